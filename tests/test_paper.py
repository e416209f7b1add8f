"""Tests of sbdlib.experiments.paper: the paper's rows match our model keys, and the comparison table is built from rows."""

from __future__ import annotations

import math

from sbdlib.experiments import EXPERIMENTS
from sbdlib.experiments.paper import SPRITES_TABLES, comparison_table


def _row(decoder: str, variant: str, seed: int, elbo: float, mig: float) -> dict:
    return dict(decoder=decoder, variant=variant, seed=seed, elbo=elbo, mig=mig, latents_used=5,
                factor_vae=math.nan)


def test_every_trained_sprites_model_has_a_paper_row() -> None:
    trained = {(s.decoder, s.variant) for s in EXPERIMENTS["sprites"] + EXPERIMENTS["sprites-ablations"]}
    assert trained <= {(p.decoder, p.variant) for p in SPRITES_TABLES}


def test_comparison_table_sets_the_paper_beside_our_medians() -> None:
    rows = [_row("sbd", "", 0, 100.0, 0.1), _row("sbd", "", 1, 120.0, 0.3), _row("sbd", "", 2, 110.0, 0.2)]
    table = comparison_table(rows).splitlines()
    default = next(line for line in table if "3 conv layers (default)" in line)
    assert "| 3 |" in default
    assert "329.0 / 110.0 (100.0-120.0)" in default and "0.147 / 0.200 (0.100-0.300)" in default
    assert "0.208 / n/a" in default  # the FactorVAE score was not measured in these rows
    assert "not trained" in next(line for line in table if "2 conv layers" in line)
    mlp = next(line for line in table if "2 MLP layers" in line)
    assert "| - / not trained |" in mlp  # Table 7 prints no latents-used column
    assert len(table) == 2 + len(SPRITES_TABLES)


def test_paper_reference_keys_the_values_by_our_model_keys() -> None:
    from sbdlib.experiments.paper import paper_reference

    ref = paper_reference(("mig", "latents_used"))
    assert ref["mig"]["sbd"] == 0.147 and ref["mig"]["deconv/deconv-depth-3"] == 0.031
    assert "sbd/sbd-mlp-2" in ref["mig"] and "sbd/sbd-mlp-2" not in ref["latents_used"]
