"""Time the latent explorer of notebook 04: from a slider move to the new image.

Builds :func:`sbdlib.widgets.latent_explorer` with course-width (32 channels) DeConv and
Spatial Broadcast VAEs on 64 x 64 RGB circles (untrained: the cost does not depend on the
weights) and prints the median latency over many moves of

* one slider of each model (decode one latent vector + PNG encoding, one model), and
* a full refresh of both models (what a seed-image change does after resetting sliders).

Target: at most 50 ms per slider move on a CPU.

Run: ``python benchmarks/bench_widgets.py``
"""

from __future__ import annotations

import statistics
import time

import torch

from sbdlib.data import get_dataset
from sbdlib.models import VAE
from sbdlib.widgets import latent_explorer, median_update_ms

COURSE_WIDTH = 32
SEED_IMAGES = 16
REPEATS = 50
TARGET_MS = 50.0
SEED = 0


def build_explorer():
    """The explorer with untrained course-width DeConv and SBD VAEs."""
    torch.manual_seed(SEED)
    vaes = {decoder: VAE(decoder, width=COURSE_WIDTH).eval() for decoder in ("deconv", "sbd")}
    images = get_dataset("circles/xy").eval_set(SEED_IMAGES, seed=SEED)[0]
    return latent_explorer(vaes, images)


def median_refresh_ms(explorer, repeats: int = REPEATS) -> float:
    """Median ms of :meth:`LatentExplorer.refresh` (both models re-decoded)."""
    explorer.refresh()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        explorer.refresh()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def main() -> None:
    """Print the median latencies and whether each slider move meets the target."""
    explorer = build_explorer()
    print(f"latent explorer, width {COURSE_WIDTH}, 64x64x3, torch threads {torch.get_num_threads()}, "
          f"median of {REPEATS} moves:")
    for key in explorer.vaes:
        ms = median_update_ms(explorer, key, repeats=REPEATS)
        verdict = "OK" if ms <= TARGET_MS else "TOO SLOW"
        print(f"  {key:7s} slider move: {ms:6.1f} ms (target <= {TARGET_MS:.0f} ms: {verdict})")
    print(f"  both models refreshed: {median_refresh_ms(explorer):6.1f} ms")


if __name__ == "__main__":
    main()
