"""Tests of sbdlib.figures and the latent/geometry explorers of sbdlib.figures.widgets (tiny untrained models)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import ipywidgets  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from sbdlib import figures, metrics  # noqa: E402
from sbdlib.figures import style  # noqa: E402
from sbdlib.data import Circles, get_dataset  # noqa: E402
from sbdlib.models import VAE, row_model_key  # noqa: E402
from sbdlib.training import History  # noqa: E402

TINY_WIDTH = 8
COURSE_WIDTH = 32
LATENCY_BOUND_MS = 200.0  # sanity bound; the target in a live notebook is 50 ms
LATENCY_REPEATS = 20


@pytest.fixture(autouse=True)
def figures_dir(tmp_path, monkeypatch):
    """Send every saved figure to a temporary folder and close figures after each test."""
    monkeypatch.setattr(style, "READER_FIGURES_DIR", tmp_path)
    monkeypatch.setattr(style, "FIGURES_DIR", tmp_path / "shipped")
    monkeypatch.delenv(figures.SHIP_FIGURES_VAR, raising=False)
    monkeypatch.setenv("SBDLIB_SCALE", "course")  # course-scale file names
    yield tmp_path
    plt.close("all")


@pytest.fixture(scope="module")
def tiny_vaes():
    torch.manual_seed(0)
    return {"deconv": VAE("deconv", width=TINY_WIDTH).eval(), "sbd": VAE("sbd", width=TINY_WIDTH).eval()}


@pytest.fixture(scope="module")
def images():
    return get_dataset("circles/xy").eval_set(32, seed=0)[0]


def _titles(fig) -> list[str]:
    texts = [ax.get_title() for ax in fig.axes]
    if fig._suptitle is not None:
        texts.append(fig._suptitle.get_text())
    return [t for t in texts if t]


def _has_axis_labels(fig) -> bool:
    return any(ax.get_xlabel() for ax in fig.axes) and any(ax.get_ylabel() for ax in fig.axes)


def test_palette_is_complete_and_distinct():
    assert set(figures.COLORS) == set(figures.LABELS) == {"deconv", "sbd", "coordconv"}
    assert len(set(figures.COLORS.values())) == 3
    assert figures.LABELS == {"deconv": "DeConv", "sbd": "Spatial Broadcast", "coordconv": "CoordConv"}
    assert figures.color_of("sbd seed 3") == figures.COLORS["sbd"]


def test_variants_are_their_own_models_in_their_decoders_colour_family():
    key = row_model_key(dict(decoder="sbd", variant="shuffled-coords"))
    assert key == "sbd/shuffled-coords" and row_model_key(dict(decoder="sbd", variant="")) == "sbd"
    assert figures.label_of(key) == "Spatial Broadcast, shuffled-coords"
    assert figures.label_of("sbd/sbd-depth-4") == "Spatial Broadcast, depth-4"
    tint = figures.color_of(key)
    assert tint not in figures.COLORS.values() and figures.decoder_name(key) == "sbd"
    blue, light = (np.asarray(matplotlib.colors.to_rgb(c)) for c in (figures.COLORS["sbd"], tint))
    assert np.all(light >= blue) and np.argmax(light - blue) == np.argmin(blue)  # lighter, same hue family


def test_save_figure_writes_png(figures_dir, tmp_path_factory):
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    path = figures.save_figure(fig, "00_test")
    assert path == figures_dir / "00_test.png" and path.stat().st_size > 0
    other = tmp_path_factory.mktemp("elsewhere")
    assert figures.save_figure(fig, "x.png", directory=other) == other / "x.png"
    with pytest.raises(ValueError):
        figures.save_figure(fig, "a/b")


def test_only_make_figures_writes_the_shipped_figures(figures_dir, monkeypatch):
    fig, _ = plt.subplots()
    assert figures.save_figure(fig, "01_x") == figures_dir / "01_x.png"  # a reader's run: git-ignored runs/
    monkeypatch.setenv(figures.SHIP_FIGURES_VAR, "1")
    assert figures.save_figure(fig, "01_x") == figures_dir / "shipped" / "01_x.png"


def test_other_scales_never_overwrite_course_figures(figures_dir, monkeypatch):
    fig, _ = plt.subplots()
    monkeypatch.setenv("SBDLIB_SCALE", "quick")
    assert figures.save_figure(fig, "01_x") == figures_dir / "01_x_quick.png"


class _FakeEncoder:
    """Encodes every image to zero means and fixed per-latent log-variances."""

    def __init__(self, variances):
        self.logvar = torch.log(torch.tensor(variances, dtype=torch.float32))

    def encode(self, x):
        n = x.shape[0]
        return torch.zeros(n, len(self.logvar)), self.logvar.expand(n, -1)


def test_latent_order_sorts_by_mean_posterior_variance():
    fake = _FakeEncoder([0.9, 0.01, 1.0, 0.2, 0.01])
    order, variance = figures.latent_order(fake, torch.zeros(4, 3, 8, 8))
    assert order.tolist() == [1, 4, 3, 0, 2]  # ties keep the lower index first
    np.testing.assert_allclose(variance, [0.9, 0.01, 1.0, 0.2, 0.01], rtol=1e-5)


def test_reconstructions(tiny_vaes, images, figures_dir):
    fig = figures.plot_reconstructions(tiny_vaes, images[:6], save="rec")
    assert "Reconstructions" in _titles(fig)
    assert [ax.get_ylabel() for ax in fig.axes] == ["Input", "DeConv", "Spatial Broadcast"]
    assert _has_axis_labels(fig)
    assert (figures_dir / "rec.png").exists()


def test_traversals(tiny_vaes, images, figures_dir):
    fig = figures.plot_traversals(tiny_vaes, images[0], reference=images, steps=5, save="trav")
    assert [ax.get_title() for ax in fig.axes] == ["DeConv", "Spatial Broadcast"]
    assert fig.axes[0].title.get_color() == figures.COLORS["deconv"]
    assert len(fig.axes[1].get_yticklabels()) == 10 and "z" in fig.axes[1].get_yticklabels()[0].get_text()
    assert _has_axis_labels(fig) and (figures_dir / "trav.png").exists()
    tiles, values = figures.traversal_images(tiny_vaes["sbd"], images[0], [3, 1], steps=5)
    assert tiles.shape == (10, 3, 64, 64) and values.tolist() == [-2.0, -1.0, 0.0, 1.0, 2.0]


def test_posterior_std(tiny_vaes, images, figures_dir):
    fig = figures.plot_posterior_std(tiny_vaes, images, save="std")
    ax = fig.axes[0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("latents used" in t for t in legend) and any("0.5" in t for t in legend)
    assert any(line.get_linestyle() == "--" for line in ax.get_lines())
    assert ax.get_title() and _has_axis_labels(fig) and (figures_dir / "std.png").exists()


def test_latent_geometry(tiny_vaes, figures_dir):
    holed = Circles("xy", hole="center")
    fig = figures.plot_latent_geometry(tiny_vaes["sbd"], holed, n=6, latents=[2, 5], save="geo")
    ax = fig.axes[0]
    assert ax.get_xlabel().startswith("z2") and ax.get_ylabel().startswith("z5")
    assert len(ax.get_lines()) == 12  # 6 lines of constant x, 6 of constant y
    black = [c for c in ax.collections if np.allclose(c.get_facecolor()[0][:3], 0)]
    assert black and len(black[0].get_offsets()) == int(holed.grid("x", "y", 6, 6)[2].sum())
    assert ax.get_title() and (figures_dir / "geo.png").exists()
    with pytest.raises(ValueError):
        figures.plot_latent_geometry(tiny_vaes["sbd"], holed, n=4, latents=[1, 1])
    fig = figures.plot_geometry_comparison(tiny_vaes, get_dataset("circles/xy"), n=5, save="geocmp")
    assert len(fig.axes) == 3 and fig.axes[0].get_title().startswith("ground truth")
    assert (figures_dir / "geocmp.png").exists()


def test_grid_affine_r2(tiny_vaes):
    r2, latents = metrics.grid_affine_r2(tiny_vaes["deconv"], get_dataset("circles/xy"), n=4, latents=[0, 3])
    assert latents == [0, 3] and r2 <= 1.0


def test_affine_r2_is_one_for_an_affine_image():
    rng = np.random.default_rng(0)
    factors = rng.uniform(size=(50, 2))
    codes = factors @ np.array([[2.0, -1.0], [0.5, 3.0]]) + 4.0
    assert metrics.affine_r2(factors, codes) == pytest.approx(1.0)
    assert metrics.affine_r2(factors, rng.normal(size=(50, 2))) < 0.5


def test_seed_distributions(figures_dir):
    rows = [dict(decoder=d, seed=s, mig=0.1 * s + (0.3 if d == "sbd" else 0.0), latents_used=2 + s)
            for d in ("sbd", "deconv") for s in range(4)]
    rows.append(dict(decoder="sbd", seed=9, mig=float("nan"), latents_used=2))
    fig = figures.plot_seed_distributions(rows, ("mig", "latents_used"), paper={"mig": {"sbd": 0.147}},
                                        highlight=[dict(decoder="sbd", mig=0.9, latents_used=3)], save="mig")
    ax = fig.axes[0]
    assert len(fig.axes) == 2
    assert [t.get_text().split("\n")[0] for t in ax.get_xticklabels()] == ["DeConv", "Spatial Broadcast"]
    assert "4 seeds" in ax.get_xticklabels()[1].get_text() and "5 seeds" in fig.axes[1].get_xticklabels()[1].get_text()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"median", "paper", "your run", "one seed"} <= set(legend)
    assert ax.get_title() and _has_axis_labels(fig) and (figures_dir / "mig.png").exists()
    with pytest.raises(ValueError):
        figures.plot_seed_distributions(rows, ("missing",))
    shuffled = [dict(decoder="sbd", variant="shuffled-coords", mig=0.05, latents_used=9)] * 2
    fig = figures.plot_seed_distributions(rows + shuffled, ("mig",))
    assert [t.get_text().split("\n")[0] for t in fig.axes[0].get_xticklabels()] == [
        "DeConv", "Spatial Broadcast", "Spatial Broadcast,"]
    assert "2 seeds" in fig.axes[0].get_xticklabels()[2].get_text()
    models = ("deconv", "coordconv", "sbd", "sbd/shuffled-coords")
    fig = figures.plot_seed_distributions(rows + shuffled, ("mig", "latents_used") * 2 + ("mig",), decoders=models)
    width, height = fig.get_size_inches()
    assert len(fig.axes) == 5 and width <= figures.MAX_FIGURE_INCHES and height > 7  # wrapped into rows


def test_sweep_draws_every_run_and_the_medians_in_order(figures_dir):
    rows = [dict(decoder=d, variant="", beta=b, seed=s, kl=10 / b + s, nll=50 + 5 * b + s, mig=0.1 * b)
            for d in ("deconv", "sbd") for b in (0.5, 1.0, 2.0) for s in range(3)]
    fig = figures.plot_sweep(rows, suptitle="scale 'quick'", save="sweep")
    assert len(fig.axes) == 2 and _has_axis_labels(fig) and (figures_dir / "sweep.png").exists()
    ax = fig.axes[0]
    dots = [c for c in ax.collections if len(c.get_offsets()) == 9]
    assert len(dots) == 2  # every run of each decoder
    line = [l for l in ax.get_lines() if l.get_color() == figures.COLORS["sbd"]][0]
    assert line.get_xdata().tolist() == pytest.approx([21.0, 11.0, 6.0])  # median KL at beta 0.5, 1, 2
    assert {t.get_text() for t in ax.texts} == {"0.5", "1", "2"}
    fig = figures.plot_sweep(rows, (("beta", "mig"),))
    assert fig.axes[0].get_xscale() == "log" and "log scale" in fig.axes[0].get_xlabel()
    with pytest.raises(ValueError, match="finite"):
        figures.plot_sweep(rows, (("kl", "missing"),))


def test_history(figures_dir):
    histories = {}
    for key, scale in (("deconv", 1.0), ("sbd", 0.8)):
        h = History()
        for step in range(1, 101):
            h.append(step, {"nll": scale * 500 / step + 50, "kl": 10 + step * 0.1, "elbo": scale * 500 / step + 60})
        histories[key] = h
    fig = figures.plot_history(histories, save="hist")
    assert [ax.get_title() for ax in fig.axes] == ["NLL", "KL", "negative ELBO"]
    assert fig.axes[0].get_lines()[1].get_color() == figures.COLORS["deconv"]
    assert _has_axis_labels(fig) and (figures_dir / "hist.png").exists()
    for h in histories.values():
        h.metrics["disc_accuracy"] = [0.5] * len(h.step)
    fig = figures.plot_history(histories, keys=("disc_accuracy",))
    assert fig.axes[0].get_title() == "discriminator accuracy" and fig.axes[0].get_ylabel() == "fraction correct"


def test_latent_explorer_builds_and_updates(tiny_vaes, images):
    explorer = figures.latent_explorer(tiny_vaes, images[:8])
    assert isinstance(explorer, ipywidgets.Widget)
    assert set(explorer.sliders) == {"deconv", "sbd"} and all(len(s) == 10 for s in explorer.sliders.values())
    for key in tiny_vaes:  # sliders start at seed 0's posterior mean, in informativeness order
        mean = metrics.posterior(tiny_vaes[key], images[:1])[0][0]
        assert [s.value for s in explorer.sliders[key]] == pytest.approx(mean[explorer.orders[key]].tolist(), abs=1e-5)
    before = explorer.images["sbd"].value
    other = explorer.images["deconv"].value
    explorer.sliders["sbd"][0].value = 2.5
    assert explorer.images["sbd"].value != before
    assert explorer.images["deconv"].value == other  # only the moved model is redrawn
    explorer.seed_slider.value = 3  # picking a seed resets the sliders
    mean = metrics.posterior(tiny_vaes["sbd"], images[3:4])[0][0]
    assert explorer.sliders["sbd"][0].value == pytest.approx(float(mean[explorer.orders["sbd"][0]]), abs=1e-5)
    assert explorer.images["sbd"].value[:8] == b"\x89PNG\r\n\x1a\n"


def test_latent_explorer_latency():
    torch.manual_seed(0)
    vaes = {"deconv": VAE("deconv", width=COURSE_WIDTH).eval(), "sbd": VAE("sbd", width=COURSE_WIDTH).eval()}
    explorer = figures.latent_explorer(vaes, get_dataset("circles/xy").eval_set(8, seed=0)[0])
    median_ms = figures.median_update_ms(explorer, repeats=LATENCY_REPEATS)
    print(f"latent explorer: median slider move {median_ms:.1f} ms (width {COURSE_WIDTH}, 64x64, DeConv + SBD)")
    assert median_ms < LATENCY_BOUND_MS


def test_geometry_explorer_builds(tiny_vaes):
    widget = figures.geometry_explorer(tiny_vaes, get_dataset("circles/xy"), n=4)
    assert isinstance(widget, ipywidgets.VBox)
    dropdowns = [c for box in widget.children[:2] for c in box.children]
    assert [d.value for d in dropdowns] == ["x", "y", 0, 1]
    dropdowns[2].value = 2  # redraws without error
    dropdowns[1].value = "x"  # same factor twice: a message, no figure
    assert "different" in widget.children[2].value


def test_seeds_by_group_draws_one_panel_per_group(figures_dir):
    rows = [dict(dataset=f"circles/{name}", decoder=d, seed=s, hole_ratio=1.0 + s + (2.0 if d == "deconv" else 0.0))
            for name in ("xy", "xh", "rg") for d in ("sbd", "deconv") for s in range(3)]
    fig = figures.plot_seeds_by_group(rows, "hole_ratio", save="by_group")
    assert [ax.get_title() for ax in fig.axes] == ["circles/xy", "circles/xh", "circles/rg"]
    assert [t.get_text().split("\n")[0] for t in fig.axes[0].get_xticklabels()] == ["DeConv", "Spatial Broadcast"]
    assert fig.axes[0].get_ylabel() == "reconstruction error, hole / outside"
    assert fig._suptitle.get_text() and (figures_dir / "by_group.png").exists()
    with pytest.raises(ValueError, match="no finite values"):
        figures.plot_seeds_by_group(rows, "missing")


def test_seeds_by_group_draws_a_row_per_metric(figures_dir):
    rows = [dict(budget=b, decoder=d, seed=s, mig=0.1 * s, latents_used=3 + s)
            for b in ("1,000 steps", "10,000 steps") for d in ("sbd", "deconv") for s in range(3)]
    fig = figures.plot_seeds_by_group(rows, ("mig", "latents_used"), group="budget", save="by_budget")
    titles = [ax.get_title() for ax in fig.axes]
    assert len(titles) == 4 and titles[0].endswith(": 1,000 steps") and titles[3].endswith(": 10,000 steps")
    assert fig.axes[0].get_ylabel() and not fig.axes[1].get_ylabel() and fig.axes[2].get_ylabel()
    assert (figures_dir / "by_budget.png").exists()


def _picture(widget):
    """The widget's display bundle and its picture's pixels ``[H, W, 3]``."""
    import base64
    import io

    from PIL import Image

    bundle = widget._repr_mimebundle_()
    png = base64.b64decode(bundle["image/png"])
    return bundle, np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def _check_bundle(bundle, starts):
    # The live view (a running, trusted notebook), a picture (a notebook opened unrun) and one short line.
    assert figures.WIDGET_VIEW_MIME in bundle
    text = bundle["text/plain"]
    assert text.startswith(starts) and "\n" not in text and "children=" not in text and len(text) < 200, text


def test_explorers_display_a_picture_of_what_they_show(tiny_vaes, images):
    explorer = figures.latent_explorer(tiny_vaes, images[:8])
    bundle, before = _picture(explorer)
    _check_bundle(bundle, "Latent explorer: DeConv (10 latents), Spatial Broadcast (10 latents)")
    explorer.sliders["sbd"][0].value = 3.0 if explorer.sliders["sbd"][0].value < 0 else -3.0
    after = _picture(explorer)[1]
    assert before.shape == after.shape and before.shape[1] > before.shape[0]  # a row of panels
    assert (before != after).any(), "the picture must show the sliders' current state"

    bundle, pixels = _picture(figures.factor_explorer(get_dataset("circles/xy"), initial={"x": 0.2}))
    _check_bundle(bundle, "Factor explorer of circles/xy: 2 sliders (x, y)")
    assert pixels.std() > 0

    geometry = figures.geometry_explorer(tiny_vaes, get_dataset("circles/xy"), n=4)
    bundle, pixels = _picture(geometry)
    _check_bundle(bundle, "Latent geometry explorer: DeConv, Spatial Broadcast; factors x and y")
    assert pixels.shape[0] > 100 and pixels.std() > 0


def test_progress_bar_outside_a_notebook_is_tqdms_text_bar():
    from tqdm.notebook import tqdm as notebook_tqdm

    bar = figures.progress_bar(total=3, desc="x")
    try:
        assert not isinstance(bar, notebook_tqdm)
    finally:
        bar.close()


def test_a_closed_notebook_progress_bar_is_saved_as_it_ended(tmp_path):
    # In a kernel the bar is a widget; its saved text must read 5/5, not the 0/5 it showed when displayed.
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(
        "from sbdlib.figures.widgets import progress_bar\nbar = progress_bar(total=5, desc='steps')\n"
        "for _ in range(5):\n    bar.update(1)\nbar.close()"))
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(Path(__file__).resolve().parents[1])}}).execute()
    shown = [o for o in nb.cells[0].outputs if o.output_type == "display_data"]
    assert len(shown) == 1 and figures.WIDGET_VIEW_MIME in shown[0].data
    assert "5/5" in shown[0].data["text/plain"] and "100%" in shown[0].data["text/plain"], shown[0].data["text/plain"]
