"""Tests of sbdlib.experiments.reproduction: the README's sprites rows are computed, up to date, and their verdicts can fail."""

from __future__ import annotations

import pytest

from sbdlib.experiments import reproduction as rp


def _row(decoder: str, variant: str, seed: int, **metrics: float) -> dict:
    base = dict(dataset="sprites", decoder=decoder, variant=variant, seed=seed, image_size=32, width=16, steps=1000,
                mig=0.1, factor_vae=0.3, latents_used=5, elbo=80.0, affine_r2=0.9)
    return {**base, **metrics}


def test_readme_rows_are_up_to_date() -> None:
    text = rp.README.read_text()
    assert rp.readme_with_rows(text, rp.render_rows(rp.shipped_budgets())) == text, \
        "README's rows 12-18 are out of date: run `python -m sbdlib.experiments.reproduction`"


def test_spearman_known_values() -> None:
    assert rp.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert rp.spearman([1, 2, 3], [1, 1, 2]) == pytest.approx(0.8660254)
    assert rp.spearman([1, 2, 3], [5, 5, 5]) == 0.0


def test_mig_claim_holds_and_fails() -> None:
    good = [_row("sbd", "", s, mig=0.3 + s / 100) for s in range(3)] + [_row("deconv", "", s, mig=0.1) for s in range(3)]
    text, verdict = rp.claim_mig(good)
    assert verdict.startswith("yes in the median") and "without overlap" in verdict and "3 + 3 seeds" in text
    bad = [{**r, "mig": 0.5 - r["mig"]} for r in good]
    assert rp.claim_mig(bad)[1] == "no"


def test_depth_trend_needs_the_papers_direction() -> None:
    depths = {2: "sbd-depth-2", 3: "", 4: "sbd-depth-4", 5: "sbd-depth-5"}
    rising = [_row("sbd", v, 0, mig=0.05 * d, latents_used=10 - d) for d, v in depths.items()]
    assert rp.claim_sbd_depth(rising)[1] == "yes"
    mixed = [{**r, "latents_used": 5} for r in rising]
    assert rp.claim_sbd_depth(mixed)[1] == "partly"
    assert rp.claim_sbd_depth(rising[:2]) == ("not trained", "not tested")


def test_families_names_the_exceptions() -> None:
    rows = [_row("sbd", "", 0, mig=0.2), _row("sbd", "sbd-mlp-3", 0, mig=0.01), _row("deconv", "", 0, mig=0.05)]
    assert rp.claim_families(rows)[1] == "all but sbd-mlp-3"
    assert rp.claim_families([r for r in rows if not r["variant"]]) == ("not trained", "not tested")


def test_readme_with_rows_needs_the_rows() -> None:
    with pytest.raises(ValueError, match="rows 12 to 18"):
        rp.readme_with_rows("no table here", "x")
