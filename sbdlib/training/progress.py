"""Training progress: one bar and one live figure in a notebook, text lines in a script.

The figure shows, per metric (NLL, KL, negative ELBO), the median over a population's
members and their min-max band, in the decoder's colour (:mod:`sbdlib.figures`).
"""

from __future__ import annotations

import math
import sys
import time
import warnings

import torch

PROGRESS_MODES = ("auto", "notebook", "text", "none")
PLOT_REDRAWS = 10  # live-figure redraws per run: each costs a matplotlib render (~0.3 s on a laptop)


def in_notebook() -> bool:
    """True inside a Jupyter kernel (live plots), False in scripts and terminals."""
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


class Progress:
    """One bar and one live figure (median and range over members) in notebooks; text lines in scripts."""

    def __init__(self, mode: str, total: int, start: int, log_every: int, title: str, decoder: str,
                 setting: str = "") -> None:
        self.mode = ("notebook" if in_notebook() else "text") if mode == "auto" else mode
        self.log_every, self.total, self.title, self.decoder = log_every, total, title, decoder
        self.setting = setting  # e.g. "cpu, fp32": shown beside the first report (the bar's name in notebooks)
        self.last_step, self.last_time = start, time.perf_counter()
        self.steps: list[int] = []
        self.values: dict[str, list[list[float]]] = {k: [] for k in ("nll", "kl", "elbo")}
        self.bar = self.figure = self.handle = None
        self.reports = 0
        if self.mode == "notebook":
            from sbdlib.figures.widgets import progress_bar  # its saved output reads as it ended

            self.bar = progress_bar(total=total, initial=start, desc=f"{title} ({setting})" if setting else title)

    def update(self, step: int, means: list[dict[str, float] | None]) -> None:
        """Report each member's running means at ``step`` (``None`` for members that stopped)."""
        now = time.perf_counter()
        rate = (step - self.last_step) / max(now - self.last_time, 1e-9)
        self.last_step, self.last_time = step, now
        alive = [m for m in means if m is not None]
        if not alive:
            return
        self.steps.append(step)
        for k in self.values:
            self.values[k].append([m[k] if m is not None else math.nan for m in means])
        med = {k: float(torch.tensor([m[k] for m in alive]).median()) for k in ("nll", "kl", "elbo")}
        span = "" if len(means) == 1 else (f" (median of {len(alive)}/{len(means)} members, elbo "
                                           f"{min(m['elbo'] for m in alive):.1f}..{max(m['elbo'] for m in alive):.1f})")
        if self.mode == "notebook":
            self.bar.update(step - self.bar.n)
            self.bar.set_postfix(elbo=f"{med['elbo']:.1f}", steps_per_s=f"{rate:.1f}")
            self.reports += 1
            every = max(1, self.total // (self.log_every * PLOT_REDRAWS))
            if self.reports % every == 0 or step >= self.total:
                self._draw()
        elif self.mode == "text":
            first = f"  [{self.setting}]" if self.setting and not self.reports else ""
            self.reports += 1
            print(f"[{self.title}] step {step}/{self.total}  nll {med['nll']:.2f}  kl {med['kl']:.2f}  "
                  f"elbo {med['elbo']:.2f}{span}  ({rate:.1f} steps/s){first}", flush=True)

    def _draw(self) -> None:
        """Redraw the live figure: per metric, the members' median and their min-max band."""
        import matplotlib.pyplot as plt
        import numpy as np
        from IPython.display import display

        from sbdlib.figures import color_of, label_of

        if self.figure is None:
            self.figure, _ = plt.subplots(1, 3, figsize=(12, 3))
            plt.close(self.figure)  # shown through the display handle only
        color = color_of(self.decoder)
        for ax, key in zip(self.figure.axes, ("nll", "kl", "elbo")):
            ax.clear()
            v = np.asarray(self.values[key], dtype=float)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns of stopped members
                ax.plot(self.steps, np.nanmedian(v, 1), color=color, label=f"{label_of(self.decoder)} median")
                if v.shape[1] > 1:
                    ax.fill_between(self.steps, np.nanmin(v, 1), np.nanmax(v, 1), color=color, alpha=0.25,
                                    label=f"range over {v.shape[1]} members")
            ax.set_title(key.upper() if key != "elbo" else "negative ELBO")
            ax.set_xlabel("step")
            ax.set_ylabel("nats per image")
        self.figure.axes[0].legend(fontsize=8)
        self.figure.suptitle(self.title)
        self.figure.tight_layout()
        if self.handle is None:
            self.handle = display(self.figure, display_id=True)
        else:
            self.handle.update(self.figure)

    def close(self) -> None:
        """Finish the bar."""
        if self.bar is not None:
            self.bar.close()
