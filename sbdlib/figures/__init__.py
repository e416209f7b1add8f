"""Figures of the course: reconstructions, traversals, posterior widths, latent geometry, every seed's
metrics, training curves, and the ipywidgets explorers.

Every figure that draws a decoder uses the same colour (:data:`COLORS`) and display name
(:data:`LABELS`), so DeConv and the Spatial Broadcast decoder are recognisable at a glance
in every notebook. Each plotting function returns its :class:`matplotlib.figure.Figure`,
gives it a title and axis labels, and when ``save`` is a name writes it with :func:`save_figure`
(to ``runs/figures/``; the shipped ``figures/`` only under ``make figures``).

Models are passed as ``{key: vae}`` dicts. A key that is a decoder name (``"deconv"``,
``"sbd"``, ``"coordconv"``) gets that decoder's label; any other key (e.g. ``"sbd seed 3"``)
is shown as written, in the colour of ``vae.decoder_name``. An ablation variant's key is
``decoder/variant`` (``"sbd/shuffled-coords"``, :func:`sbdlib.models.model_key`): its decoder's colour,
lightened, so a variant reads as a member of its decoder's family.
"""

from sbdlib.figures.curves import HISTORY_LABELS, MAX_LEGEND_RUNS, SMOOTHING_FRACTION, plot_history
from sbdlib.figures.geometry import (GEOMETRY_CMAP_A, GEOMETRY_CMAP_B, GEOMETRY_CMAP_RANGE, GEOMETRY_GRID,
                                     HELD_OUT_COLOR, plot_factor_grid, plot_geometry_comparison, plot_latent_geometry,
                                     plot_posterior_std)
from sbdlib.figures.images import (DEFAULT_TRAVERSAL_SPAN, DEFAULT_TRAVERSAL_STEPS, TILE_PAD, TILE_PAD_VALUE,
                                   TRAVERSAL_TILE_INCHES, latent_order, plot_reconstructions, plot_traversals,
                                   tile_images, traversal_images, traverse)
from sbdlib.figures.seeds import (DISTRIBUTION_METRICS, JITTER_SEED, METRIC_LABELS, PLOT_LABELS, STRIP_JITTER,
                                  metric_label, plot_seed_distributions, plot_seeds_by_group, plot_sweep)
from sbdlib.figures.style import (COLORS, DPI, FALLBACK_COLOR, FIGURES_DIR, LABELS, MAX_FIGURE_INCHES, PANEL_INCHES,
                                  READER_FIGURES_DIR, SHIP_FIGURES_VAR, SUPTITLE_TOP, color_of, decoder_name, label_of,
                                  save_figure)
from sbdlib.figures.widgets import (CONTINUOUS_SLIDER_STEPS, DECODE_THREADS, DISPLAY_SIZE, LATENT_RANGE,
                                    LATENT_SLIDER_STEP, LATENT_SLIDER_WIDTH, PICTURE_DPI, PICTURE_NOTE,
                                    PICTURE_PANEL_INCHES, SLIDER_LAYOUT_WIDTH, THUMBNAIL_SIZE, TIMING_REPEATS,
                                    WIDGET_VIEW_MIME, LatentExplorer, PictureBox, factor_explorer, figure_png,
                                    geometry_explorer, image_to_png, latent_explorer, median_update_ms, panels_png,
                                    progress_bar)
