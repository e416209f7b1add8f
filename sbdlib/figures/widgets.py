"""Interactive ipywidgets for the notebooks.

:func:`factor_explorer` shows a dataset image driven by one slider per factor of variation.
:func:`latent_explorer` decodes hand-set latents of several VAEs side by side (notebook 04),
:func:`geometry_explorer` redraws their latent-space geometry (notebook 05).
The widgets build without a browser (headless notebook runs); they only update live in
a running kernel.

Each explorer is displayed together with a **picture of itself** (a PNG of what it shows,
see :class:`PictureBox`) and a one-line text: JupyterLab draws a widget only in a trusted
notebook with its kernel running, and a notebook opened without running it (a fresh clone
is not trusted) shows the richest *safe* output of each cell instead, the picture.
:func:`progress_bar` is a notebook progress bar whose saved output reads as it finished.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import io
from typing import Any, Callable, Iterator

import ipywidgets
import numpy as np
import torch
from PIL import Image as PILImage
from torch import Tensor

from sbdlib.data import FactorDataset
from sbdlib.devices import module_device
from sbdlib.figures.geometry import plot_geometry_comparison
from sbdlib.figures.images import latent_order
from sbdlib.figures.style import color_of, label_of
from sbdlib.metrics import posterior

DISPLAY_SIZE = 192  # pixels of the displayed image side (nearest-neighbour upscaling)
CONTINUOUS_SLIDER_STEPS = 100  # slider positions across a continuous factor's range
SLIDER_LAYOUT_WIDTH = "320px"


def image_to_png(image: Tensor, display_size: int = DISPLAY_SIZE) -> bytes:
    """Encode one image as PNG bytes, upscaled with nearest neighbour.

    Args:
        image: ``[C, H, W]`` float image in [0, 1], ``C`` = 1 or 3.
        display_size: Side of the PNG in pixels.

    Returns:
        The PNG file's bytes.
    """
    if image.dim() != 3 or image.shape[0] not in (1, 3):
        raise ValueError(f"image must have shape [C, H, W] with C = 1 or 3, got {tuple(image.shape)}")
    pixels = (image.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    array = pixels[0] if pixels.shape[0] == 1 else np.transpose(pixels, (1, 2, 0))
    picture = PILImage.fromarray(array).resize((display_size, display_size), PILImage.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


PICTURE_DPI = 100  # pixels per inch of a widget's picture
PICTURE_PANEL_INCHES = 2.2  # side of one image panel in a widget's picture
PICTURE_NOTE = "a picture of the widget: run the notebook to use it"
WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"


class PictureBox(ipywidgets.VBox):
    """A VBox displayed with a PNG picture of what it shows and a one-line text, beside the live widget.

    The display bundle holds the widget view (what a running, trusted notebook shows), an
    ``image/png`` (what JupyterLab shows for a notebook opened unrun: widget views are not
    a *safe* output, pictures are) and a short ``text/plain``.

    Args:
        children: The widgets in the box.
        picture: Returns the picture's PNG bytes, or ``None`` for none (called at each display).
        summary: Returns the one-line text (called at each display).
    """

    def __init__(self, children: list[ipywidgets.Widget], picture: Callable[[], bytes | None],
                 summary: Callable[[], str], **kwargs: Any) -> None:
        super().__init__(children, **kwargs)
        self._picture, self._summary = picture, summary

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        data = super()._repr_mimebundle_(**kwargs)
        data["text/plain"] = self._summary()
        png = self._picture()
        if png:
            data["image/png"] = base64.b64encode(png).decode("ascii")
        return data


def panels_png(panels: list[tuple[str, str, bytes]], caption: str, side_lines: tuple[str, ...] = ()) -> bytes:
    """A row of titled images as one PNG (a widget's picture), optionally after a column of text lines.

    Args:
        panels: ``(title, title colour, PNG bytes of the image)`` per panel.
        caption: Line under the panels.
        side_lines: Lines shown left of the images (e.g. the sliders' values).

    Returns:
        The PNG file's bytes.
    """
    from matplotlib.figure import Figure  # no pyplot: nothing is registered or shown

    columns = len(panels) + (1 if side_lines else 0)
    fig = Figure(figsize=(PICTURE_PANEL_INCHES * columns, PICTURE_PANEL_INCHES + 0.5), dpi=PICTURE_DPI)
    if side_lines:
        ax = fig.add_subplot(1, columns, 1)
        ax.axis("off")
        ax.text(0.0, 0.5, "\n".join(side_lines), ha="left", va="center", fontsize=9, family="monospace",
                transform=ax.transAxes)
    for i, (title, color, png) in enumerate(panels):
        ax = fig.add_subplot(1, columns, columns - len(panels) + i + 1)
        ax.imshow(np.asarray(PILImage.open(io.BytesIO(png)).convert("RGB")), interpolation="nearest")
        ax.set_title(title, color=color, fontsize=10, fontweight="bold")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.text(0.5, 0.02, caption, ha="center", va="bottom", fontsize=8, style="italic")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def figure_png(fig: Any) -> bytes:
    """A matplotlib figure as PNG bytes, drawn as the notebook's inline backend draws it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def progress_bar(total: int, initial: int = 0, desc: str = "") -> Any:
    """A tqdm notebook bar whose saved output, once closed, reads as it ended (``2000/2000``), not as it began.

    A widget's text is fixed when it is displayed, so a bar's saved ``text/plain`` would keep
    its first state (``0/2000``); this bar is displayed with a display id and displayed again
    in place when it closes. Outside a notebook it is tqdm's plain text bar.
    """
    from tqdm.auto import tqdm
    from tqdm.notebook import tqdm as notebook_tqdm

    if not issubclass(tqdm, notebook_tqdm):  # tqdm.auto chose the text bar
        return tqdm(total=total, initial=initial, desc=desc, leave=True)
    return _closing_bar_class()(total=total, initial=initial, desc=desc, leave=True, display=False)


@functools.cache
def _closing_bar_class() -> type:
    """tqdm's notebook bar, displayed under a display id and displayed again when closed."""
    from IPython.display import display
    from tqdm.notebook import tqdm as notebook_tqdm

    class ClosingBar(notebook_tqdm):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.handle = display(self.container, display_id=True)

        def close(self) -> None:
            if self.disable:
                return
            super().close()
            if getattr(self, "handle", None) is not None:
                self.handle.update(self.container)

    return ClosingBar


def _factor_slider(dataset: FactorDataset, i: int, value: float) -> ipywidgets.Widget:
    """An IntSlider for integer-valued discrete factors, else a FloatSlider."""
    name, (lo, hi), size = dataset.factor_names[i], dataset.factor_ranges[i], dataset.factor_sizes[i]
    grid = dataset.factor_values(i)
    style = {"description_width": "initial"}
    layout = ipywidgets.Layout(width=SLIDER_LAYOUT_WIDTH)
    if dataset.factor_discrete[i] and bool((grid == grid.round()).all()):
        return ipywidgets.IntSlider(
            value=int(round(value)), min=int(lo), max=int(hi), step=1, description=name,
            continuous_update=True, style=style, layout=layout,
        )
    steps = size - 1 if dataset.factor_discrete[i] and size > 1 else CONTINUOUS_SLIDER_STEPS
    return ipywidgets.FloatSlider(
        value=value, min=lo, max=hi, step=(hi - lo) / steps, description=name, readout_format=".3f",
        continuous_update=True, style=style, layout=layout,
    )


def factor_explorer(dataset: FactorDataset, *, initial: dict[str, float] | None = None) -> ipywidgets.Widget:
    """An image of ``dataset`` with one slider per factor, re-rendered as sliders move.

    Args:
        dataset: Any :class:`sbdlib.data.FactorDataset`.
        initial: Optional ``{factor name: value}``; other factors start at
            ``dataset.default_factors()``.

    Returns:
        A :class:`PictureBox` (title, sliders and image) to display in a notebook.

    Raises:
        ValueError: If ``initial`` names an unknown factor or a value outside its range.
    """
    start = dataset.default_factors()
    for name, value in (initial or {}).items():
        start[dataset.factor_index(name)] = float(value)
    dataset.render(start[None])  # validates the starting point
    sliders = [_factor_slider(dataset, i, float(v)) for i, v in enumerate(start)]
    title = ipywidgets.HTML()
    image = ipywidgets.Image(format="png", width=DISPLAY_SIZE, height=DISPLAY_SIZE)
    ranges = torch.tensor(dataset.factor_ranges, dtype=torch.float32)

    def update(_change: object = None) -> None:
        """Render the sliders' factors and refresh the image and title."""
        factors = torch.tensor([[float(s.value) for s in sliders]], dtype=torch.float32)
        factors = torch.maximum(torch.minimum(factors, ranges[:, 1]), ranges[:, 0])
        image.value = image_to_png(dataset.render(factors)[0])
        values = ", ".join(f"{n} = {v:.3g}" for n, v in zip(dataset.factor_names, factors[0].tolist()))
        title.value = f"<b>{dataset.name}</b>: {values}"

    for slider in sliders:
        slider.observe(update, names="value")
    update()

    def picture() -> bytes:
        values = tuple(f"{s.description} = {float(s.value):.3g}" for s in sliders)
        return panels_png([(dataset.name, "black", image.value)], PICTURE_NOTE, side_lines=values)

    def summary() -> str:
        return f"Factor explorer of {dataset.name}: {len(sliders)} sliders ({', '.join(dataset.factor_names)})"

    return PictureBox([title, ipywidgets.HBox([ipywidgets.VBox(sliders), image])], picture, summary)


# ----------------------------------------------------------------------------------------
# Latent explorer and geometry explorer (notebooks 04 and 05)
# ----------------------------------------------------------------------------------------

LATENT_RANGE = 3.0  # latent sliders span [-LATENT_RANGE, LATENT_RANGE] (the prior's +-3 std)
LATENT_SLIDER_STEP = 0.05
LATENT_SLIDER_WIDTH = "300px"
THUMBNAIL_SIZE = 96  # pixels of the seed image thumbnail
TIMING_REPEATS = 20
DECODE_THREADS = 1  # torch threads for one slider move (see LatentExplorer.update_image)


class LatentExplorer(PictureBox):
    """Decode hand-picked latents of several VAEs live; see :func:`latent_explorer`.

    Attributes:
        seed_slider: ``IntSlider`` choosing the seed image (resets the latent sliders).
        sliders: ``{key: [FloatSlider, ...]}``, each model's sliders in its informativeness order.
        orders: ``{key: order [D]}``: latent index of each slider.
        images: ``{key: ipywidgets.Image}``: the decoded image of each model.
        means: ``{key: [N, D]}`` posterior means of the candidate seed images.
    """

    def __init__(self, vaes: dict[str, torch.nn.Module], images: Tensor) -> None:

        if not vaes:
            raise ValueError("vaes must name at least one model, e.g. {'deconv': vae1, 'sbd': vae2}")
        if images.dim() != 4 or images.shape[0] < 1:
            raise ValueError(f"images must have shape [N, C, H, W] with N >= 1, got {tuple(images.shape)}")
        self.vaes = dict(vaes)
        self.inputs = images.detach().cpu()
        self.devices = {key: module_device(vae) for key, vae in self.vaes.items()}
        self.means: dict[str, Tensor] = {}
        self.orders: dict[str, list[int]] = {}
        self.sliders: dict[str, list[ipywidgets.FloatSlider]] = {}
        self.images: dict[str, ipywidgets.Image] = {}
        self._resetting = False
        columns = []
        for key, vae in self.vaes.items():
            vae.eval()
            order, variance = latent_order(vae, self.inputs)
            self.means[key] = posterior(vae, self.inputs)[0]
            self.orders[key] = [int(d) for d in order]
            self.sliders[key] = [
                ipywidgets.FloatSlider(
                    value=0.0, min=-LATENT_RANGE, max=LATENT_RANGE, step=LATENT_SLIDER_STEP,
                    description=f"z{d} (\u03c3\u00b2={variance[d]:.2f})", readout_format=".2f",
                    continuous_update=True, style={"description_width": "110px"},
                    layout=ipywidgets.Layout(width=LATENT_SLIDER_WIDTH),
                )
                for d in self.orders[key]
            ]
            self.images[key] = ipywidgets.Image(format="png", width=DISPLAY_SIZE, height=DISPLAY_SIZE)
            for slider in self.sliders[key]:
                slider.observe(lambda _change, key=key: self._on_slider(key), names="value")
            header = ipywidgets.HTML(f"<b style='color:{color_of(key, vae)}; font-size:1.1em'>"
                                     f"{label_of(key, vae)}</b>")
            columns.append(ipywidgets.VBox([header, self.images[key], *self.sliders[key]]))
        self.seed_slider = ipywidgets.IntSlider(
            value=0, min=0, max=self.inputs.shape[0] - 1, step=1, description="seed image",
            continuous_update=False, style={"description_width": "initial"},
        )
        self.thumbnail = ipywidgets.Image(format="png", width=THUMBNAIL_SIZE, height=THUMBNAIL_SIZE)
        self.seed_slider.observe(lambda change: self.set_seed(int(change["new"])), names="value")
        note = ipywidgets.HTML("Sliders sorted by mean posterior variance \u03c3\u00b2 (most informative "
                               "first); each model has its own latents. Picking a seed image resets them "
                               "to its posterior mean.")
        seed_box = ipywidgets.HBox([ipywidgets.VBox([self.seed_slider, note],
                                                    layout=ipywidgets.Layout(width="420px")),
                                    ipywidgets.VBox([ipywidgets.HTML("input"), self.thumbnail])])
        super().__init__([seed_box, ipywidgets.HBox(columns)], self.picture, self.summary)
        self.set_seed(0)

    def picture(self) -> bytes:
        """PNG of what the explorer shows: the seed image and each model's decoded image."""

        panels = [("input", "black", self.thumbnail.value)]
        panels += [(label_of(key, vae), color_of(key, vae), self.images[key].value) for key, vae in self.vaes.items()]
        return panels_png(panels, f"seed image {self.seed_slider.value}, sliders at its posterior mean ({PICTURE_NOTE})")

    def summary(self) -> str:
        """One line naming the models and their latent sliders."""

        models = ", ".join(f"{label_of(key, vae)} ({len(self.sliders[key])} latents)" for key, vae in self.vaes.items())
        return f"Latent explorer: {models}; seed image {self.seed_slider.value} of {self.inputs.shape[0]}"

    def latents(self, key: str) -> Tensor:
        """The latent vector ``[1, D]`` that model ``key``'s sliders describe."""
        z = torch.empty(1, len(self.orders[key]))
        z[0, self.orders[key]] = torch.tensor([s.value for s in self.sliders[key]], dtype=torch.float32)
        return z

    def update_image(self, key: str) -> None:
        """Decode model ``key``'s slider values and show the image: exactly the work of one slider move.

        Runs on :data:`DECODE_THREADS` CPU thread(s): one 64 x 64 image is too small to gain
        from intra-op parallelism, and extra threads only wait on each other (badly so on a
        busy machine). The thread count is restored afterwards.
        """
        with _torch_threads(DECODE_THREADS), torch.no_grad():
            image = self.vaes[key].decode_image(self.latents(key).to(self.devices[key]))[0]
            png = image_to_png(image)
        self.images[key].value = png

    def refresh(self) -> None:
        """Re-decode every model's image (what a seed change does after resetting the sliders)."""
        for key in self.vaes:
            self.update_image(key)

    def set_seed(self, index: int) -> None:
        """Show seed image ``index`` and reset every model's sliders to its posterior mean."""
        if not 0 <= index < self.inputs.shape[0]:
            raise ValueError(f"seed index must be in [0, {self.inputs.shape[0]}), got {index}")
        if self.seed_slider.value != index:
            self.seed_slider.value = index  # the observer calls set_seed again
            return
        self.thumbnail.value = image_to_png(self.inputs[index], THUMBNAIL_SIZE)
        self._resetting = True
        try:
            for key, sliders in self.sliders.items():
                for slider, d in zip(sliders, self.orders[key]):
                    value = float(self.means[key][index, d])
                    slider.value = max(-LATENT_RANGE, min(LATENT_RANGE, value))
        finally:
            self._resetting = False
        self.refresh()

    def _on_slider(self, key: str) -> None:
        """Slider observer: redraw that model's image (not while a seed change resets sliders)."""
        if not self._resetting:
            self.update_image(key)


@contextlib.contextmanager
def _torch_threads(count: int) -> Iterator[None]:
    """Run the body with ``count`` torch intra-op threads, then restore the previous count."""
    previous = torch.get_num_threads()
    if previous == count:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def latent_explorer(vaes: dict[str, torch.nn.Module], images: Tensor) -> LatentExplorer:
    """Live latent sliders for several VAEs side by side (e.g. DeConv and Spatial Broadcast).

    Layout: a seed-image picker (``IntSlider`` over the ``N`` images, with a thumbnail of
    the chosen input), then one column per model: its name in its colour, its decoded
    image and one ``FloatSlider`` per latent, range [-3, 3].

    Each model gets **its own slider column**: latent 3 of one VAE has nothing to do with
    latent 3 of another, so a shared slider set would compare unrelated directions. Within
    a column, sliders are sorted by mean posterior variance over ``images`` (most
    informative first; the variance is in the slider's label), so the top sliders of every
    column are comparable: "the most-used latent of each model". Picking a seed image
    resets all sliders to that image's posterior means (the decoded images then show the
    reconstructions).

    A slider move decodes one latent vector with one model under ``torch.no_grad()`` and
    sends PNG bytes to its ``ipywidgets.Image``; no matplotlib is involved. That work is
    :meth:`LatentExplorer.update_image`; :func:`median_update_ms` times it.

    Args:
        vaes: ``{key: vae}``; keys ``"deconv"``, ``"sbd"``, ``"coordconv"`` get the course's
            labels and colours (see :mod:`sbdlib.figures`).
        images: Candidate seed images ``[N, C, H, W]`` in [0, 1]; they are also the
            reference batch of the latent ordering, so pass a few hundred.

    Returns:
        A :class:`LatentExplorer` (an ``ipywidgets.VBox`` with a picture, see :class:`PictureBox`) to display.
    """
    return LatentExplorer(vaes, images)


def median_update_ms(explorer: LatentExplorer, key: str | None = None, repeats: int = TIMING_REPEATS) -> float:
    """Median wall time (ms) from a slider move to the new image bytes.

    Each repeat moves a slider (alternating between two values, so the value really
    changes); its observer runs :meth:`LatentExplorer.update_image` synchronously.

    Args:
        explorer: From :func:`latent_explorer`.
        key: Model whose top slider moves (default: every model in turn, one move each per repeat).
        repeats: Moves timed per model.

    Returns:
        Median milliseconds per slider move.
    """
    import statistics
    import time

    keys = [key] if key is not None else list(explorer.vaes)
    times = []
    for k in keys:
        slider = explorer.sliders[k][0]
        start_value = slider.value
        values = [0.5 if start_value < 0 else -0.5, 1.0 if start_value < 0 else -1.0]
        slider.value = values[1]  # warm-up
        for i in range(repeats):
            t0 = time.perf_counter()
            slider.value = values[i % 2]
            times.append(time.perf_counter() - t0)
        slider.value = start_value
    return 1e3 * statistics.median(times)


def geometry_explorer(vaes: dict[str, torch.nn.Module], dataset: FactorDataset, *, n: int = 12) -> ipywidgets.Widget:
    """Dropdowns for two factors and two latents, redrawing the latent geometry of every model.

    The latent dropdowns choose a *rank* in each model's informativeness order (1 = its
    lowest mean posterior variance over the grid), so the same choice is meaningful for
    every model; the panels name the actual latent indices. The figure is
    :func:`sbdlib.figures.plot_geometry_comparison`, drawn into an ``ipywidgets.Output``.

    Args:
        vaes: ``{key: vae}``.
        dataset: A dataset with at least two factors.
        n: Grid values per factor.

    Returns:
        A :class:`PictureBox` (dropdowns above the output; its picture is the figure shown).
    """
    import matplotlib.pyplot as plt
    from IPython import get_ipython
    from IPython.display import display


    if dataset.num_factors < 2:
        raise ValueError(f"{dataset.name} has fewer than two factors: no 2-D grid to draw")
    dims = min(int(vae.latent_dim) for vae in vaes.values())
    names = list(dataset.factor_names)
    style = {"description_width": "initial"}
    factor_a = ipywidgets.Dropdown(options=names, value=names[0], description="factor A", style=style)
    factor_b = ipywidgets.Dropdown(options=names, value=names[1], description="factor B", style=style)
    ranks = [(f"rank {r + 1}", r) for r in range(dims)]
    latent_1 = ipywidgets.Dropdown(options=ranks, value=0, description="latent (horizontal)", style=style)
    latent_2 = ipywidgets.Dropdown(options=ranks, value=1, description="latent (vertical)", style=style)
    message = ipywidgets.HTML()
    output = ipywidgets.Output()
    shown: dict[str, Any] = {"figure": None}  # the figure on display, for the picture

    def redraw(_change: object = None) -> None:
        """Recompute the grid for the chosen factors and latent ranks and draw it."""
        if factor_a.value == factor_b.value or latent_1.value == latent_2.value:
            message.value = "<i>Choose two different factors and two different latents.</i>"
            return
        message.value = ""
        images = dataset.grid(factor_a.value, factor_b.value, n, n)[0]
        latents = {}
        for key, vae in vaes.items():
            order = latent_order(vae, images)[0]
            latents[key] = (int(order[latent_1.value]), int(order[latent_2.value]))
        with output:
            output.clear_output(wait=True)
            fig = plot_geometry_comparison(vaes, dataset, factor_a.value, factor_b.value, n=n, latents=latents)
            if get_ipython() is not None:  # outside a kernel (scripts, tests) there is nowhere to show it
                display(fig)
            plt.close(fig)
            shown["figure"] = fig

    def picture() -> bytes | None:
        return None if shown["figure"] is None else figure_png(shown["figure"])

    def summary() -> str:
        return (f"Latent geometry explorer: {', '.join(label_of(key, vae) for key, vae in vaes.items())}; factors {factor_a.value} and {factor_b.value}, "
                f"latent ranks {latent_1.value + 1} and {latent_2.value + 1}")

    for control in (factor_a, factor_b, latent_1, latent_2):
        control.observe(redraw, names="value")
    redraw()
    return PictureBox([ipywidgets.HBox([factor_a, factor_b]), ipywidgets.HBox([latent_1, latent_2]), message, output],
                      picture, summary)
