"""A training run's record: per-step metrics and how the run ended (saved in every checkpoint)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass
class History:
    """Per-step training metrics (batch means, nats per image) and how the run ended."""

    step: list[int] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0
    interrupted: bool = False
    diverged: str | None = None
    device: str = ""     # where it trained, e.g. "cpu" or "cuda:0"
    precision: str = ""  # "fp32", "bf16" or "fp16" (sbdlib.devices.Precision.name)
    engine: str = ""     # "sequential" or "stacked" (how its population ran)

    def append(self, step: int, values: dict[str, float]) -> None:
        """Record one step's scalars."""
        self.step.append(step)
        for k, v in values.items():
            self.metrics.setdefault(k, []).append(float(v))

    def __getitem__(self, key: str) -> list[float]:
        """``history["nll"]``: the per-step values of one metric."""
        return self.metrics[key]

    def __len__(self) -> int:
        return len(self.step)

    def tail_mean(self, key: str, n: int = 100) -> float:
        """Mean of the last ``n`` values of a metric (a smoothed final value)."""
        values = self.metrics[key][-n:]
        return sum(values) / len(values) if values else float("nan")

    def as_dict(self) -> dict[str, Any]:
        """Plain lists and numbers (checkpoint-safe)."""
        return {"step": list(self.step), "metrics": {k: list(v) for k, v in self.metrics.items()},
                "seconds": self.seconds, "interrupted": self.interrupted, "diverged": self.diverged,
                "device": self.device, "precision": self.precision, "engine": self.engine}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "History":
        """Inverse of :meth:`as_dict`."""
        return cls(step=list(d["step"]), metrics={k: list(v) for k, v in d["metrics"].items()},
                   seconds=float(d.get("seconds", 0.0)), interrupted=bool(d.get("interrupted", False)),
                   diverged=d.get("diverged"), device=d.get("device", ""), precision=d.get("precision", ""),
                   engine=d.get("engine", ""))


def images_per_second(history: History, batch_size: int) -> float:
    """Training throughput of a finished run."""
    return len(history) * batch_size / history.seconds if history.seconds > 0 else math.nan
