"""Time the latent explorer of notebook 04, from a slider change to the new image: in Python and in the page.

Builds :func:`sbdlib.figures.widgets.latent_explorer` exactly as notebook 04 does at course scale:
the shipped course-scale checkpoints (``data/checkpoints/circles-xy_{deconv,sbd}_s0_course.pt``)
and course-scale X-Y circles. Then, per decoder, it prints the median over many changes of

* **in Python**: setting a slider's value -> the new PNG bytes in the ``Image`` widget (the
  observer decodes one latent vector and encodes the PNG; :func:`sbdlib.figures.widgets.median_update_ms`);
* **in the page**: the same explorer in JupyterLab in headless Chromium, from the key press
  on the slider's handle (a capturing ``keydown`` listener) to the ``<img>``'s new ``src``
  (a ``MutationObserver``), both stamped in the page with ``performance.now()``. This adds
  the browser -> kernel -> browser round trip (``tests/browser/labdriver.py`` drives it);

and one full refresh of both models (what picking a seed image does). A third page row, the
"no-op" widget, swaps two ready-made PNGs of the same size on every change: the transport
floor (browser -> JupyterLab server -> kernel -> browser) under the decoders' rows.

Target: under 50 ms per change on 2 CPU cores at course scale. Without Chromium or
Playwright the page column says why it was not measured; nothing is estimated.

Run: ``python benchmarks/bench_widgets.py``
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import ipywidgets
import torch

import sbdlib
from sbdlib.training.checkpoints import load_checkpoint
from sbdlib.experiments import CHECKPOINT_DIR, run_name, scaled_dataset
from sbdlib.figures import LABELS
from sbdlib.figures.widgets import (DISPLAY_SIZE, LATENT_RANGE, LATENT_SLIDER_STEP, LatentExplorer, image_to_png,
                            latent_explorer, median_update_ms)

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "browser"))
import labdriver  # noqa: E402  (the browser machinery of the browser tests)

DECODERS = ("deconv", "sbd")
SCALE = "course"
SEED = 0
SEED_IMAGES = 64  # as notebook 04
PYTHON_REPEATS = 50
PAGE_REPEATS = 30
PAGE_WARMUP = 3
TARGET_MS = 50.0
NOTEBOOK = "bench_widgets.ipynb"
NOOP_LABEL = "no-op"
# The page's notebook builds its widgets with this very module's build_explorer() and build_noop().
NOTEBOOK_CELLS = (f"import sys\nsys.path.insert(0, {str(HERE)!r})\nfrom bench_widgets import build_explorer, build_noop",
                  "build_explorer()", "build_noop()")


def build_explorer() -> LatentExplorer:
    """The latent explorer of notebook 04 at course scale, from the shipped checkpoints."""
    scale = sbdlib.scale(SCALE)
    vaes = {}
    for decoder in DECODERS:
        path = CHECKPOINT_DIR / f"{run_name(decoder, SEED, scale=scale)}.pt"
        if not path.exists():
            raise SystemExit(f"missing shipped checkpoint {path}: the benchmark times the course-scale models")
        vaes[decoder] = load_checkpoint(path)[0].eval()
    images = scaled_dataset(scale=scale).eval_set(SEED_IMAGES, seed=SEED)[0]
    return latent_explorer(vaes, images)


def build_noop() -> ipywidgets.VBox:
    """A slider whose change shows one of two ready-made explorer-sized PNGs: no decoding, only transport.

    Laid out like one explorer column (name, image, slider) so the page code finds it the same way.
    """
    pngs = [image_to_png(image) for image in scaled_dataset(scale=sbdlib.scale(SCALE)).eval_set(2, seed=SEED)[0]]
    image = ipywidgets.Image(value=pngs[1], format="png", width=DISPLAY_SIZE, height=DISPLAY_SIZE)
    slider = ipywidgets.FloatSlider(value=0.5, min=-LATENT_RANGE, max=LATENT_RANGE, step=LATENT_SLIDER_STEP,
                                    description="no-op", continuous_update=True)
    slider.observe(lambda change: setattr(image, "value", pngs[int(change["new"] > 0)]), names="value")
    return ipywidgets.VBox([ipywidgets.HTML(f"<b>{NOOP_LABEL}</b>"), image, slider])


def median_refresh_ms(explorer: LatentExplorer, repeats: int = PYTHON_REPEATS) -> float:
    """Median ms of :meth:`LatentExplorer.refresh` (both models re-decoded)."""
    explorer.refresh()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        explorer.refresh()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def page_medians() -> tuple[dict[str, float], str]:
    """``({decoder: median ms in the page}, note)``; empty with the reason when it cannot be measured."""
    reason = labdriver.missing_requirement()
    if reason is not None:
        return {}, reason
    import nbformat
    from playwright.sync_api import sync_playwright

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in NOTEBOOK_CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    medians = {}
    try:
        with labdriver.LabServer(env={"SBDLIB_SCALE": SCALE}, files={NOTEBOOK: nbformat.writes(nb)}) as server, \
                sync_playwright() as playwright:
            context = labdriver.launch_browser(playwright, server.scratch / "profile")
            try:
                notebook = labdriver.NotebookPage(context.new_page(), server, NOTEBOOK)
                notebook.open()
                notebook.run_all()
                for key, label in (*((d, LABELS[d]) for d in DECODERS), (NOOP_LABEL, NOOP_LABEL)):
                    column = notebook.explorer_column(label)
                    times = notebook.slider_latencies(column.locator(":scope > .widget-slider").first,
                                                      column.locator(":scope > .widget-image"),
                                                      PAGE_REPEATS, warmup=PAGE_WARMUP)
                    medians[key] = statistics.median(times)
            finally:
                context.close()
    except Exception as error:  # the page could not be measured: say why, estimate nothing
        return medians, f"not measured ({type(error).__name__}): {str(error).splitlines()[0]}"
    return medians, f"JupyterLab in headless Chromium ({labdriver.find_chromium()}), key press -> <img> src"


def _cell(ms: float | None) -> str:
    if ms is None:
        return f"{'-':>9s}        "
    return f"{ms:6.1f} ms {'OK' if ms < TARGET_MS else 'SLOW':<5s}"


def main() -> None:
    """Print the median latencies per decoder, in Python and in the page, against the target."""
    explorer = build_explorer()
    scale = sbdlib.scale(SCALE)
    print(f"latent explorer of notebook 04, {SCALE} scale (shipped checkpoints, seed {SEED}): "
          f"{scale.image_size}x{scale.image_size}x3, width {scale.width}, torch threads {torch.get_num_threads()} "
          f"(one per move); target < {TARGET_MS:.0f} ms per slider change")
    python_ms = {decoder: median_update_ms(explorer, decoder, repeats=PYTHON_REPEATS) for decoder in DECODERS}
    refresh_ms = median_refresh_ms(explorer)
    del explorer
    page_ms, note = page_medians()
    print(f"{'decoder':<18s} {'Python: set -> PNG':<18s}  {'page: key -> new <img>':<22s}")
    for decoder in DECODERS:
        print(f"{LABELS[decoder]:<18s} {_cell(python_ms[decoder])}  {_cell(page_ms.get(decoder))}")
    print(f"{'no-op (transport)':<18s} {_cell(None)}  {_cell(page_ms.get(NOOP_LABEL))}")
    print(f"medians: Python over {PYTHON_REPEATS} changes, page over {PAGE_REPEATS} changes "
          f"(after {PAGE_WARMUP} untimed); page: {note}")
    print(f"both models refreshed (a seed-image change), Python: {refresh_ms:6.1f} ms")


if __name__ == "__main__":
    main()
