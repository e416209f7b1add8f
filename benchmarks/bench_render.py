"""Benchmark: vectorised circle rendering (sbdlib.data) against a per-image PIL loop.

Both sides produce anti-aliased 64 x 64 RGB images of a white circle (the X-Y set: centre
in [0.2, 0.8]^2, diameter 0.2 of the frame) as one float32 array ``[N, 3, 64, 64]`` in
[0, 1]. The PIL loop is the usual blog recipe: draw each circle with ``ImageDraw.ellipse``
on a 4x larger canvas, downsample with a box filter for anti-aliasing, convert to floats.

Run: ``python benchmarks/bench_render.py`` (about half a minute). Prints images/s of each
(median over alternating repeats) and the speed-up.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch
from PIL import Image, ImageDraw

from sbdlib.data import Circles

IMAGE_SIZE = 64
SUPERSAMPLE = 4  # PIL: draw at 4x and box-downsample (anti-aliasing)
DIAMETER = 0.2  # frame widths (the X-Y set)
CENTRE_RANGE = (0.2, 0.8)
PIL_IMAGES = 1_000  # per repeat
OURS_IMAGES = 20_000  # per repeat
REPEATS = 5


def pil_circles(n: int, seed: int) -> np.ndarray:
    """Render ``n`` circles one by one with PIL. Returns ``[n, 3, 64, 64]`` float32 in [0, 1]."""
    rng = np.random.default_rng(seed)
    lo, hi = CENTRE_RANGE
    centres = rng.uniform(lo, hi, size=(n, 2))
    big = IMAGE_SIZE * SUPERSAMPLE
    radius = DIAMETER / 2 * big
    out = np.empty((n, 3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    for k, (x, y) in enumerate(centres):
        canvas = Image.new("RGB", (big, big))
        cx, cy = x * big, y * big
        ImageDraw.Draw(canvas).ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=(255, 255, 255))
        small = canvas.resize((IMAGE_SIZE, IMAGE_SIZE), Image.BOX)
        out[k] = np.asarray(small, dtype=np.float32).transpose(2, 0, 1) / 255.0
    return out


def ours(dataset: Circles, n: int, seed: int) -> torch.Tensor:
    """Sample ``n`` X-Y circles with sbdlib. Returns ``[n, 3, 64, 64]`` float32 in [0, 1]."""
    images, _ = dataset.sample(n, seed=seed)
    return images


def images_per_second(render, n: int, seed: int) -> float:
    """Time one call of ``render(n, seed)``."""
    start = time.perf_counter()
    render(n, seed)
    return n / (time.perf_counter() - start)


def main() -> None:
    """Alternate both renderers, then print median throughputs and their ratio."""
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    dataset = Circles("xy")
    # Same picture on both sides: one circle, the same area.
    check = pil_circles(1, seed=0)[0].sum() / 3
    print(f"area check (pixels): PIL {check:.1f}, sbdlib {ours(dataset, 1, 0)[0].sum().item() / 3:.1f}, "
          f"pi r^2 = {np.pi * (DIAMETER / 2 * IMAGE_SIZE) ** 2:.1f}")
    ours(dataset, 1_000, seed=0)  # warm up
    pil_rates, our_rates = [], []
    for repeat in range(REPEATS):
        pil_rates.append(images_per_second(pil_circles, PIL_IMAGES, seed=repeat))
        our_rates.append(images_per_second(lambda n, s: ours(dataset, n, s), OURS_IMAGES, seed=repeat))
    pil, our = statistics.median(pil_rates), statistics.median(our_rates)
    print(f"PIL loop (ImageDraw.ellipse, 4x supersampled): {pil:10,.0f} images/s (median of {REPEATS})")
    print(f"sbdlib Circles('xy').sample:                   {our:10,.0f} images/s (median of {REPEATS})")
    print(f"speed-up: {our / pil:.1f}x")


if __name__ == "__main__":
    main()
