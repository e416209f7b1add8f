"""The paper's own numbers, to set beside ours (Watters et al. 2019, arXiv:1901.07017).

Only what the paper prints is here (``../shared/paper-facts.md`` restates it), each entry
with its table. The sprites tables are medians over 25 seeds at 64 x 64, width 64, batch 16,
1.5e6 steps; Tables 7 and 10 print only the ELBO and MIG.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from sbdlib.experiments.results import digits_of, median_range, summarize
from sbdlib.metrics import metric_columns
from sbdlib.models import model_key, model_label

PAPER_SPRITES_SETTING = "64 x 64, width 64, batch 16, 1.5e6 steps, 25 seeds"
COMPARED_METRICS = ("elbo", "latents_used", "mig", "factor_vae")


def metric_header(metric: str) -> str:
    """A results column's header in the comparison table (its :class:`sbdlib.metrics.Column`)."""
    column = next((c for c in metric_columns() if c.name == metric), None)
    return (column.header or column.label) if column else metric


METRIC_HEADERS = {c.name: metric_header(c.name) for c in metric_columns()}  # as registered at import


@dataclass(frozen=True)
class PaperRow:
    """One row of one of the paper's tables: the model (as in our results rows) and its numbers."""

    table: str
    decoder: str
    variant: str
    setting: str                      # the row's ablated setting, as the table names it
    values: dict[str, float] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """The key of our runs of this model (:func:`sbdlib.models.model_key`; of a results row, :func:`sbdlib.models.row_model_key`)."""
        return model_key(self.decoder, self.variant)


def _t56(elbo: float, nll: float, kl: float, used: float, mig: float, fv: float) -> dict[str, float]:
    """Tables 5 and 6 print six columns: ELBO, NLL, KL, latents used, MIG, FactorVAE score."""
    return dict(elbo=elbo, nll=nll, kl=kl, latents_used=used, mig=mig, factor_vae=fv)


SPRITES_TABLES: tuple[PaperRow, ...] = (
    PaperRow("Table 5", "sbd", "sbd-depth-2", "2 conv layers", _t56(339, 312, 27.5, 8.33, 0.076, 0.187)),
    PaperRow("Table 5", "sbd", "", "3 conv layers (default)", _t56(329, 305, 24.4, 7.22, 0.147, 0.208)),
    PaperRow("Table 5", "sbd", "sbd-depth-4", "4 conv layers", _t56(341, 318, 22.6, 5.93, 0.157, 0.226)),
    PaperRow("Table 5", "sbd", "sbd-depth-5", "5 conv layers", _t56(340, 317, 22.7, 5.70, 0.173, 0.218)),
    PaperRow("Table 6", "deconv", "deconv-depth-3", "3 deconv layers", _t56(372, 346, 26.8, 9.20, 0.031, 0.144)),
    PaperRow("Table 6", "deconv", "deconv-depth-4", "4 deconv layers", _t56(349, 322, 27.1, 8.90, 0.025, 0.139)),
    PaperRow("Table 6", "deconv", "", "5 deconv layers (default)", _t56(340, 314, 26.0, 7.95, 0.056, 0.184)),
    PaperRow("Table 6", "deconv", "deconv-depth-6", "6 deconv layers", _t56(349, 326, 23.3, 6.36, 0.056, 0.199)),
    PaperRow("Table 7", "sbd", "sbd-mlp-1", "1 MLP layer before the broadcast", dict(elbo=330, mig=0.164)),
    PaperRow("Table 7", "sbd", "sbd-mlp-2", "2 MLP layers", dict(elbo=349, mig=0.210)),
    PaperRow("Table 7", "sbd", "sbd-mlp-3", "3 MLP layers", dict(elbo=392, mig=0.160)),
    PaperRow("Table 10", "sbd", "sbd-upscale-1", "1 stride-2 upscale", dict(elbo=327, mig=0.149)),
    PaperRow("Table 10", "sbd", "sbd-upscale-2", "2 stride-2 upscales", dict(elbo=329, mig=0.122)),
    PaperRow("Table 10", "sbd", "sbd-upscale-3", "3 stride-2 upscales", dict(elbo=330, mig=0.110)),
)
FACTOR_VAE_DIVERGED = 0.15  # "about 15%" of FactorVAE seeds diverged, for both decoders (App. A)


def comparison_table(rows: Sequence[Mapping[str, Any]], paper_rows: Sequence[PaperRow] = SPRITES_TABLES,
                     metrics: Sequence[str] = COMPARED_METRICS) -> str:
    """A Markdown table: per paper row, the paper's number beside ours (median, range, seeds).

    Paper rows we did not train show "not trained"; our models with no paper row are left
    out (show them with :func:`sbdlib.experiments.results.markdown_summary`). A metric the table does not
    print shows "-".
    """
    summaries = {m: summarize(rows, m, by=("decoder", "variant")) for m in metrics}
    header = ["table", "model", "seeds"] + [f"{metric_header(m)} paper / ours" for m in metrics]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for paper in paper_rows:
        group = (paper.decoder, paper.variant)
        seeds = sum(1 for r in rows if (r["decoder"], r["variant"]) == group)
        cells = []
        for m in metrics:
            theirs = f"{paper.values[m]:.{digits_of(m)}f}" if m in paper.values else "-"
            ours = median_range(summaries[m][group], digits_of(m)) if seeds else "not trained"
            cells.append(f"{theirs} / {ours}")
        lines.append("| " + " | ".join([paper.table, f"{model_label(paper.decoder)}, {paper.setting}", str(seeds),
                                        *cells]) + " |")
    return "\n".join(lines)


def paper_reference(metrics: Sequence[str], paper_rows: Sequence[PaperRow] = SPRITES_TABLES
                    ) -> dict[str, dict[str, float]]:
    """``{metric: {model key: paper value}}`` for :func:`sbdlib.figures.plot_seed_distributions`'s ``paper`` bars."""
    return {m: {p.key: p.values[m] for p in paper_rows if m in p.values} for m in metrics}
