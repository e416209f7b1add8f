"""Multi-object scenes, the foreground ARI and the slot autoencoder (notebook 13)."""

import itertools
import math

import pytest
from pathlib import Path
import torch

from sbdlib import metrics
from sbdlib.data import Scenes
from sbdlib.models.slots import SlotAutoencoder, composite


def brute_force_ari(true: list[int], pred: list[int]) -> float:
    """The ARI by its definition over pixel pairs, foreground only (slow, for small cases)."""
    keep = [i for i, t in enumerate(true) if t > 0]
    pairs = list(itertools.combinations(keep, 2))
    same_true = [true[i] == true[j] for i, j in pairs]
    same_pred = [pred[i] == pred[j] for i, j in pairs]
    agree = sum(a and b for a, b in zip(same_true, same_pred))
    expected = sum(same_true) * sum(same_pred) / len(pairs)
    best = (sum(same_true) + sum(same_pred)) / 2
    return 1.0 if best == expected else (agree - expected) / (best - expected)


def test_ari_of_hand_made_cases():
    """Perfect, permuted, all in one slot, background ignored."""
    true = torch.tensor([[0, 0, 1, 1, 2, 2, 2, 3]])
    assert metrics.foreground_ari(true, true).item() == pytest.approx(1.0)
    permuted = torch.tensor([[5, 5, 2, 2, 0, 0, 0, 7]])  # other names, the same partition
    assert metrics.foreground_ari(true, permuted).item() == pytest.approx(1.0)
    one_slot = torch.zeros_like(true)
    assert metrics.foreground_ari(true, one_slot).item() == pytest.approx(0.0)
    background_differs = torch.tensor([[3, 4, 1, 1, 2, 2, 2, 3]])  # only background pixels changed
    assert metrics.foreground_ari(true, background_differs).item() == pytest.approx(1.0)
    assert math.isnan(metrics.foreground_ari(torch.zeros(1, 4, dtype=torch.long), torch.zeros(1, 4, dtype=torch.long)))


def test_ari_of_random_labels_is_near_zero_and_matches_the_definition():
    g = torch.Generator().manual_seed(0)
    true = torch.randint(0, 4, (200, 64), generator=g)
    pred = torch.randint(0, 5, (200, 64), generator=g)
    ari = metrics.foreground_ari(true, pred)
    assert ari.shape == (200,) and ari.dtype == torch.float64
    assert abs(ari.mean().item()) < 0.02
    for i in range(5):
        assert ari[i].item() == pytest.approx(brute_force_ari(true[i].tolist(), pred[i].tolist()), abs=1e-12)
    split = true.clone()
    split[true == 1] = 9  # a partly wrong prediction: between chance and perfect
    split[:, :8][true[:, :8] == 2] = 1
    partial = metrics.foreground_ari(true, split)
    assert 0.3 < partial.mean() < 1.0


@pytest.mark.parametrize("bad, message", [
    ((torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 4, dtype=torch.long)), r"\[N, P\]"),
    ((torch.zeros(2, 3), torch.zeros(2, 3)), "integers"),
    ((torch.zeros(2, 3, dtype=torch.long), -torch.ones(2, 3, dtype=torch.long)), ">= 0"),
])
def test_ari_rejects_bad_labels(bad, message):
    with pytest.raises(ValueError, match=message):
        metrics.foreground_ari(*bad)


def test_scenes_labels_match_the_images_and_the_depth_order():
    scenes = Scenes(32, min_objects=2, max_objects=4)
    images, labels, objects = scenes.sample(64, seed=3)
    assert images.shape == (64, 3, 32, 32) and labels.shape == (64, 32 * 32) and objects.shape == (64, 4, 5)
    counts = objects[..., 0].sum(1)
    assert counts.min() >= 2 and counts.max() <= 4
    background = (labels == 0).reshape(64, 32, 32)
    assert (images.sum(1)[background] == 0).all() and (images.sum(1)[~background] > 0).all()
    # A pixel shows the last object drawn over it: render one scene with two discs on the same centre.
    two = torch.tensor([[[1.0, 0.5, 0.5, 0.3, 0.0], [1.0, 0.5, 0.5, 0.1, 0.5]]])
    img, lab = scenes.render(two)
    centre, ring = lab[0].reshape(32, 32)[16, 16], lab[0].reshape(32, 32)[16, 8]
    assert (centre.item(), ring.item()) == (2, 1)
    assert torch.allclose(img[0, :, 16, 16], torch.tensor([0.0, 1.0, 1.0]))  # hue 0.5: cyan
    again = scenes.sample(64, seed=3)
    assert all(torch.equal(a, b) for a, b in zip((images, labels, objects), again))


def test_scenes_stream_resumes_exactly_and_rejects_bad_input():
    scenes = Scenes(16)
    stream = scenes.stream(4, seed=1)
    batches = [next(stream) for _ in range(3)]
    assert torch.equal(next(scenes.stream(4, seed=1, skip=2)), batches[2])
    with pytest.raises(ValueError, match="min_objects"):
        Scenes(32, min_objects=3, max_objects=2)
    with pytest.raises(ValueError, match="objects must be"):
        scenes.render(torch.zeros(2, 5))


def test_composite_mixes_slots_by_softmaxed_alphas():
    g = torch.Generator().manual_seed(0)
    out = torch.randn(2, 3, 4, 5, 5, generator=g)
    image, masks, rgb = composite(out)
    assert torch.allclose(masks.sum(1), torch.ones(2, 1, 5, 5))
    expected = (torch.softmax(out[:, :, 3:], 1) * out[:, :, :3]).sum(1)  # linear RGB: the recipe's
    assert torch.allclose(image, expected)


def test_model_sees_signed_images_and_returns_image_units():
    """The recipe: the encoder sees [-1, 1]; recon and rgb come back in the images' [0, 1]."""
    torch.manual_seed(0)
    model = SlotAutoencoder("sbd", num_slots=3, dim=16, width=8, image_size=16)
    x = Scenes(16).sample(2, seed=0)[0]
    seen = []
    model.encoder.register_forward_pre_hook(lambda _, args: seen.append(args[0]))
    out = model(x, torch.Generator().manual_seed(0))
    assert torch.equal(seen[0], x * 2 - 1)
    image, masks, rgb = composite(model.decode_slots(out["slots"]))
    assert torch.allclose(out["recon"], (image + 1) / 2) and torch.allclose(out["rgb"], (rgb + 1) / 2)
    assert torch.allclose(out["masks"], masks)


def test_object_ownership_counts_each_object_whole_or_split():
    from sbdlib.metrics import object_ownership

    true = torch.tensor([[0, 1, 1, 1, 1, 2, 2, 0], [0, 0, 0, 0, 0, 0, 0, 0]])
    whole = torch.tensor([[0, 1, 1, 1, 1, 2, 2, 0], [0] * 8])
    split = torch.tensor([[0, 1, 1, 2, 2, 1, 2, 0], [0] * 8])  # each object halved between slots 1 and 2
    merged = torch.tensor([[0, 1, 1, 1, 1, 1, 1, 0], [0] * 8])  # both objects in one slot: still whole
    assert object_ownership(true, whole)[0] == 1 and object_ownership(true, merged)[0] == 1
    assert object_ownership(true, split)[0] == pytest.approx(0.5)
    assert torch.isnan(object_ownership(true, whole)[1])  # no objects
    with pytest.raises(ValueError, match=r"\[N, P\]"):
        object_ownership(true[0], whole[0])


@pytest.mark.parametrize("decoder", ["sbd", "deconv"])
def test_slot_autoencoder_shapes_and_gradients(decoder):
    torch.manual_seed(0)
    model = SlotAutoencoder(decoder, num_slots=3, dim=16, width=8, image_size=16)
    x = Scenes(16).sample(4, seed=0)[0]
    out = model(x, torch.Generator().manual_seed(0))
    assert out["recon"].shape == x.shape and out["masks"].shape == (4, 3, 1, 16, 16)
    assert out["slots"].shape == (4, 3, 16) and torch.allclose(out["attn"].sum(1), torch.ones(4, 256))
    ((out["recon"] - x) ** 2).sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_train_objects_resumes_exactly_and_loads_safely(tmp_path):
    """A run stopped at step 6 and resumed from its checkpoint ends with the weights of an unstopped one."""
    from sbdlib.experiments import object_runs

    settings = object_runs.OBJECT_SETTINGS["quick"]
    whole, _ = object_runs.train_objects("sbd", 0, settings, path=tmp_path / "whole.pt")

    def stop_at_6(step, total, values):
        if step == 6:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt, match="stopped at step 6 of 12"):
        object_runs.train_objects("sbd", 0, settings, path=tmp_path / "resumed.pt", progress=stop_at_6)
    assert object_runs.read_checkpoint(tmp_path / "resumed.pt")["step"] == 6
    resumed, history = object_runs.train_objects("sbd", 0, settings, path=tmp_path / "resumed.pt")
    for a, b in zip(whole.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    assert history["finished"] and history["step"][-1] == settings.steps
    model, loaded = object_runs.load_object_model(tmp_path / "whole.pt")
    assert loaded["decoder"] == "sbd" and torch.equal(next(model.parameters()), next(whole.parameters()))
    with pytest.raises(ValueError, match="other settings"):
        object_runs.train_objects("deconv", 0, settings, path=tmp_path / "whole.pt")


def test_run_objects_writes_one_row_per_run_and_rejects_bad_input(tmp_path, monkeypatch):
    from sbdlib.experiments import object_runs
    from sbdlib.experiments import paths

    monkeypatch.setattr(paths, "RUNS_DIR", tmp_path)
    rows = object_runs.run_objects(["deconv"], [0], scale="quick")
    table = object_runs.read_object_results(object_runs.object_results_path("quick", shipped=False))
    assert len(rows) == len(table) == 1 and table[0]["decoder"] == "deconv" and 0 <= table[0]["steps"] <= 12
    assert -1 <= table[0]["ari"] <= 1
    with pytest.raises(ValueError, match="slot decoder"):
        object_runs.run_objects(["coordconv"], [0], scale="quick")
    with pytest.raises(ValueError, match="seed"):
        object_runs.run_objects(["sbd"], [-1], scale="quick")


def test_notebook_13_solutions_pass_their_checks(capsys):
    """Each exercise of notebook 13: its folded solution, run through its checker, prints "correct"."""
    import re
    from pathlib import Path

    import nbformat

    from sbdlib.course import exercises

    nb = nbformat.read(Path(__file__).resolve().parents[1] / "notebooks" / "13_objects.ipynb", as_version=4)
    pattern = re.compile(r"<details><summary>Solution</summary>\s*```python\n(.*?)```", re.S)
    solved = 0
    for i, cell in enumerate(nb.cells):
        if "exercise" not in cell.metadata.get("tags", []):
            continue
        namespace = {"torch": torch}
        exec(pattern.search(nb.cells[i + 2].source).group(1), namespace)
        name = re.search(r"exercises\.(check_\w+)\((\w+)\)", nb.cells[i + 1].source)
        getattr(exercises, name.group(1))(namespace[name.group(2)])
        assert "correct:" in capsys.readouterr().out
        solved += 1
    assert solved >= 2


def test_object_slot_shares_splits_each_object_between_the_slots():
    from sbdlib.experiments.object_runs import object_slot_shares

    labels = torch.tensor([[0, 1, 1, 1, 1, 2, 2, 0]])
    masks = torch.zeros(1, 3, 1, 1, 8)
    masks[0, 0, 0, 0] = torch.tensor([1.0, 0.6, 0.6, 0.2, 0.2, 0.0, 0.0, 1.0])  # wins half of object 1
    masks[0, 1, 0, 0] = torch.tensor([0.0, 0.4, 0.4, 0.8, 0.8, 0.1, 0.1, 0.0])  # the other half
    masks[0, 2, 0, 0] = torch.tensor([0.0, 0.0, 0.0, 0.0, 0.0, 0.9, 0.9, 0.0])  # owns object 2
    won, strength = object_slot_shares(masks, labels)
    assert torch.allclose(won, torch.tensor([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]]))
    assert torch.allclose(strength, torch.tensor([[0.4, 0.6, 0.0], [0.0, 0.1, 0.9]]))
    with pytest.raises(ValueError, match=r"\[B, H\*W\]"):
        object_slot_shares(masks, labels[:, :4])


def _object_row(decoder, seed, ari, ownership, mse, variant="", steps=2000):
    """A row of the objects table with the columns object_rows reads."""
    return dict(dataset="scenes", decoder=decoder, variant=variant, seed=seed, scale="course", image_size=32,
                max_objects=2, num_slots=3, dim=32, width=16, steps=steps, batch_size=16, lr=4e-4, ari=ari,
                ari_median=ari, ownership=ownership, mse=mse, diverged=0, train_seconds=1.0, device="cpu",
                precision="fp32")


def test_object_rows_groups_summarise_and_format_the_readme_row():
    from sbdlib.experiments import object_rows

    rows = [_object_row("sbd", s, a, o, m) for s, (a, o, m) in enumerate([(0.1, 0.75, 180.0), (0.3, 0.8, 170.0),
                                                                            (0.2, 0.7, 190.0)])]
    rows += [_object_row("deconv", s, a, o, 350.0 + s) for s, (a, o) in enumerate([(0.7, 0.97), (0.2, 0.6),
                                                                                    (0.75, 0.96), (0.74, 0.95)])]
    rows += [_object_row("sbd", 0, 0.5, 0.9, 150.0, variant="learned-init"),
             _object_row("sbd", 0, 0.15, 0.76, 160.0, steps=6000)]
    groups = object_rows.groups(rows)
    assert list(groups) == [("deconv", "", 2000), ("sbd", "", 2000), ("sbd", "learned-init", 2000), ("sbd", "", 6000)]
    assert object_rows.cell(groups[("sbd", "", 2000)], "ari") == "0.200 (0.100-0.300)"
    assert object_rows.cell(groups[("deconv", "", 2000)], "mse") == "351.5 (350.0-353.0)"
    # The upper median: four DeConv ARIs sorted 0.2, 0.7, 0.74, 0.75 -> position 2, seed 3.
    assert object_rows.median_seed(groups[("deconv", "", 2000)]) == 3
    assert object_rows.median_seed(groups[("sbd", "", 2000)]) == 2
    table = object_rows.group_table(rows).splitlines()
    assert len(table) == 2 + 4 and table[3].startswith("| Spatial Broadcast | 3 (0-2) | 0.200 (0.100-0.300) |")
    assert "Spatial Broadcast, 6,000 steps | 1 (0)" in table[5]
    row = object_rows.readme_row(rows, one_slot_ari=0.477)
    cells = [c.strip() for c in row.strip("|").split(" | ")]
    assert cells[0] == "24" and len(cells) == 5 and "SBD segments scenes better" in cells[1]
    assert "0.200 (0.100-0.300) SBD vs 0.720 (0.200-0.750) DeConv" in cells[3]
    assert "32 x 32, 1-2 discs, 3 slots, batch 16, 2,000 steps, fp32 CPU" in cells[3] and "3 + 4 seeds" in cells[3]
    assert "learned-init ARI 0.500 (0.500-0.500)" in cells[3] and "one slot scores ARI 0.477" in cells[3]
    assert cells[4].startswith("no at this budget") and "the ranges overlap" in cells[4]
    assert "although the SBD reconstructs better" in cells[4] and "none of the 2 SBD variants" in cells[4]
    better = [dict(r, ari=r["ari"] + 1.0) if r["decoder"] == "sbd" else r for r in rows]
    assert object_rows.verdict_cell(better).startswith("yes, without overlap")
    with pytest.raises(ValueError, match="no deconv runs"):
        object_rows.readme_row([r for r in rows if r["decoder"] == "sbd"])


def _shipped_object_rows():
    """The shipped course-scale objects table, if there is one."""
    from sbdlib.experiments import object_runs

    path = object_runs.object_results_path("course")
    return object_runs.read_object_results(path) if path.exists() else []


@pytest.mark.skipif(not _shipped_object_rows(), reason="no shipped objects table")
def test_first_run_of_each_shipped_objects_group_reevaluates():
    """The first row of each (decoder, variant, steps) group: its checkpoint, evaluated again, gives the row.

    Tolerances: absolute 2e-3 for the ARI and the ownership, relative 1e-4 for the squared error,
    the room the CPU's kernels leave (they change the last bits of a run's outputs, and a pixel
    whose winning slot flips moves an image's ARI).
    """
    from sbdlib.experiments import object_runs
    from sbdlib.experiments import object_rows

    for (decoder, variant, steps), members in object_rows.groups(_shipped_object_rows()).items():
        row = members[0]
        settings = object_runs.OBJECT_SETTINGS[row["scale"]]
        budget = object_runs.LONG if steps > settings.steps else ""
        model, payload = object_runs.load_object_model(object_runs.object_checkpoint_path(
            decoder, row["seed"], row["scale"], budget=budget, variant=variant))
        settings = object_runs.budget_settings(row["scale"], budget, variant)
        assert payload["settings"] == settings.as_dict() and payload["step"] == steps
        scores = object_runs.evaluate_objects(model, object_runs.scenes_for(settings), eval_size=settings.eval_size)
        where = (decoder, variant, steps, row["seed"])
        assert scores["ari"] == pytest.approx(row["ari"], abs=2e-3), where
        assert scores["ownership"] == pytest.approx(row["ownership"], abs=2e-3), where
        assert scores["mse"] == pytest.approx(row["mse"], rel=1e-4), where


def test_readme_row_24_is_computed_from_the_shipped_objects_table():
    """The README's Reproduction row on object-centric models is what `python -m sbdlib.experiments.object_rows` prints."""
    from sbdlib.experiments import object_rows
    from sbdlib.experiments.object_runs import read_object_results, object_results_path

    shipped = object_results_path("course", shipped=True)
    if not shipped.exists():
        pytest.skip("no shipped objects table")
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if line.startswith(f"| {object_rows.README_ROW} |"))
    expected = object_rows.readme_row(read_object_results(shipped), object_rows.one_slot_reference("course"))
    assert row == expected, "README row 24 is stale: paste the row `python -m sbdlib.experiments.object_rows` prints"
