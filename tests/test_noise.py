"""The evaluation noise: one fixed model under several evaluation seeds (sbdlib.experiments.noise)."""

from __future__ import annotations

import math

import pytest
import torch

from sbdlib.experiments import noise
from sbdlib.data import Circles
from sbdlib.experiments import EVAL_SEED, results_path
from sbdlib.metrics import metric_columns
from sbdlib.models import VAE
from sbdlib.experiments.results import read_results
from sbdlib.scales import scale

FACTOR_VAE = {"num_train": 32, "num_eval": 16, "num_variance_estimate": 128}


@pytest.fixture(scope="module")
def model_and_data() -> tuple[VAE, Circles]:
    torch.manual_seed(0)
    return VAE("sbd", width=4, image_size=32), Circles("xy", image_size=32)


def measured(rows: list[dict]) -> list[dict]:
    """The rows without their wall times (the only column allowed to change between two calls)."""
    return [{k: v for k, v in row.items() if k != "eval_seconds"} for row in rows]


def test_one_row_per_seed_in_order_with_every_metric(model_and_data) -> None:
    vae, data = model_and_data
    rows = noise.evaluation_spread(vae, data, eval_size=64, seeds=[5, 2, 9], factor_vae=FACTOR_VAE)
    assert [r["eval_seed"] for r in rows] == [5, 2, 9]
    assert all(set(r) == {"eval_seed", "eval_seconds", *(c.name for c in metric_columns())} for r in rows)
    assert all(math.isfinite(r["mig"]) and 0.0 <= r["factor_vae"] <= 1.0 for r in rows)


def test_same_seed_gives_the_same_numbers(model_and_data) -> None:
    vae, data = model_and_data
    a = noise.evaluation_spread(vae, data, eval_size=64, seeds=[3, 4], factor_vae=FACTOR_VAE)
    torch.manual_seed(99)  # the global generator plays no part
    b = noise.evaluation_spread(vae, data, eval_size=64, seeds=[4, 3], factor_vae=FACTOR_VAE)
    assert measured(a) == measured(b[::-1])


def test_different_seeds_draw_different_samples_but_the_model_is_fixed(model_and_data) -> None:
    vae, data = model_and_data
    a, b = noise.evaluation_spread(vae, data, eval_size=64, seeds=[0, 1])
    assert a["nll"] != b["nll"] and a["mig"] != b["mig"]
    assert a["affine_r2"] == b["affine_r2"]  # a fixed grid of positions: no sample, no noise


@pytest.mark.parametrize("seeds", [[], [1, 1], "12", 7, [-1], [1.5]])
def test_bad_seeds_give_one_clear_error_line(model_and_data, seeds) -> None:
    vae, data = model_and_data
    with pytest.raises(ValueError, match="seed") as err:
        noise.evaluation_spread(vae, data, eval_size=16, seeds=seeds)
    assert "\n" not in str(err.value)


def test_table_round_trip_and_missing_columns(tmp_path) -> None:
    row = {c: 1 for c in noise.spread_columns()}
    row.update(dataset="circles/xy", decoder="sbd", variant="", objective="vae", scale="course",
               likelihood="bernoulli", device="cpu", precision="fp32", machine="2-core CPU", mig=0.25,
               affine_r2=math.nan)
    path = noise.write_spread([row], tmp_path / "noise.csv")
    back = noise.read_spread(path)[0]
    assert back["mig"] == 0.25 and back["affine_r2"] is None and back["machine"] == "2-core CPU"
    assert isinstance(back["eval_seed"], int)
    path.write_text("decoder,mig\nsbd,0.1\n")
    with pytest.raises(ValueError, match="lacks the columns"):
        noise.read_spread(path)
    with pytest.raises(FileNotFoundError, match="python -m sbdlib.experiments.noise"):
        noise.read_spread(tmp_path / "none.csv")


def test_shipped_table_at_the_results_seed_reproduces_the_results_rows() -> None:
    course = scale("course")
    path = noise.spread_path("circles-xy", course)
    if not path.exists():
        pytest.skip(f"{path} is not shipped")
    rows = noise.read_spread(path)
    results = {(r["decoder"], r["seed"]): r for r in read_results(results_path("circles-xy", course))}
    at_results_seed = [r for r in rows if r["eval_seed"] == EVAL_SEED]
    assert at_results_seed and all(r["eval_size"] == course.eval_size for r in rows)
    for row in at_results_seed:
        shipped = results[(row["decoder"], row["seed"])]
        for column in ("nll", "kl", "latents_used", "mig", "factor_vae", "affine_r2"):
            assert row[column] == pytest.approx(shipped[column], abs=2e-6), (row["decoder"], row["seed"], column)


def test_compare_spreads_sets_each_models_range_beside_the_training_seeds() -> None:
    noise_rows = [{"decoder": "sbd", "seed": seed, "eval_seed": e, "mig": mig}
                  for seed, migs in ((0, (0.30, 0.32, 0.31)), (1, (0.10, 0.15, 0.12)))
                  for e, mig in enumerate(migs)]
    train_rows = [{"decoder": "sbd", "mig": m} for m in (0.1, 0.3, 0.5)] + [{"decoder": "deconv", "mig": 0.05}]
    (row,) = noise.compare_spreads(noise_rows, train_rows, ["mig"])
    assert row["eval_ranges"] == {0: pytest.approx(0.02), 1: pytest.approx(0.05)}
    assert row["eval_range"] == pytest.approx(0.05) and row["models"] == 2 and row["eval_seeds"] == 3
    assert row["train_range"] == pytest.approx(0.4) and row["train_seeds"] == 3
    assert "| mig | sbd | 0.050 (2 models x 3 seeds) | 0.400 (0.100-0.500, 3 seeds) |" in noise.markdown_comparison([row])
    with pytest.raises(ValueError, match="no results rows of decoder 'sbd'"):
        noise.compare_spreads(noise_rows, train_rows[3:], ["mig"])
