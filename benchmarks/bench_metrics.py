"""Time :func:`sbdlib.metrics.mig` on disentanglement_lib's evaluation size.

10,000 codes of 10 dimensions (float32, as posterior means come off a GPU) against 8
discrete factors (colored sprites: x, y, size, shape, angle and 3 colour bins). Prints the
median wall time of several repeats; the target is at most 1 s.

Run: ``python benchmarks/bench_metrics.py``
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from sbdlib.metrics import mig

NUM_SAMPLES = 10_000
NUM_DIMS = 10
# Colored-sprites factor sizes: x, y, scale, shape, orientation, then hue/sat/value bins.
FACTOR_SIZES = (32, 32, 6, 3, 40, 10, 10, 10)
REPEATS = 7
TARGET_SECONDS = 1.0
SEED = 0


def make_inputs(seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """Codes [N, D] float32 that mix the factors with noise, and labels [N, K] int64."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, FACTOR_SIZES, size=(NUM_SAMPLES, len(FACTOR_SIZES)))
    standardised = (labels - labels.mean(0)) / labels.std(0)
    mixing = rng.standard_normal((len(FACTOR_SIZES), NUM_DIMS))
    codes = standardised @ mixing + 0.5 * rng.standard_normal((NUM_SAMPLES, NUM_DIMS))
    return codes.astype(np.float32), labels


def time_mig(repeats: int = REPEATS) -> tuple[float, float]:
    """Median seconds of ``repeats`` calls of :func:`mig`, and the score."""
    codes, labels = make_inputs()
    score = mig(codes, labels)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        mig(codes, labels)
        times.append(time.perf_counter() - start)
    return statistics.median(times), score


def main() -> None:
    """Print the median time and whether it meets the target."""
    seconds, score = time_mig()
    verdict = "OK" if seconds <= TARGET_SECONDS else "TOO SLOW"
    print(f"mig on {NUM_SAMPLES} x {NUM_DIMS} codes, {len(FACTOR_SIZES)} factors: "
          f"median {seconds * 1e3:.1f} ms over {REPEATS} repeats "
          f"(target <= {TARGET_SECONDS:.0f} s: {verdict}); "
          f"score {score:.4f}")


if __name__ == "__main__":
    main()
