"""Disentanglement metrics and the one-row evaluation of a trained VAE.

The paper (Watters et al., 2019) reports, per trained model, ELBO / NLL / KL in nats per
image, the number of "latents used", MIG (Chen et al., 2018) and the FactorVAE score
(Kim & Mnih, 2018). MIG and the FactorVAE score follow the algorithms of
google-research/disentanglement_lib, re-implemented here with numpy and torch only
(no scikit-learn); the few places where we deliberately differ are listed in the
docstrings of :func:`mig` and :func:`factor_vae_details`.

:func:`evaluate` computes every metric of the registry :data:`METRICS`: a metric is one
function ``fn(evaluation) -> {column: value}`` registered with :func:`register_metric`, and
the results format, the figures' labels and the paper table's headers take its columns
from there.

Shapes: ``N`` samples, ``D`` code (latent) dimensions, ``K`` ground-truth factors.
"""

from sbdlib.metrics.affine_r2 import (AFFINE_GRID, POSITIONAL_FACTORS, affine_r2, choose_latents, grid_affine_r2,
                                      grid_posterior)
from sbdlib.metrics.ari import foreground_ari
from sbdlib.metrics.factor_vae import (DEFAULT_FACTOR_VAE_BATCH, DEFAULT_FACTOR_VAE_EVAL, DEFAULT_FACTOR_VAE_TRAIN,
                                       DEFAULT_FACTOR_VAE_VARIANCE, DEFAULT_PRUNE_THRESHOLD, FACTOR_VAE_KWARGS,
                                       FactorVAEDetails, factor_vae_details, factor_vae_score)
from sbdlib.metrics.hole_error import hole_reconstruction_error
from sbdlib.metrics.information import (DEFAULT_NUM_BINS, ArrayLike, GroundTruthDataset, RepresentationFn,
                                        discrete_entropy, discrete_mutual_info, histogram_discretize)
from sbdlib.metrics.latents_used import LATENT_USED_STD, latents_used, mean_posterior_std
from sbdlib.metrics.mig import MIGDetails, mig, mig_details
from sbdlib.metrics.ownership import object_ownership
from sbdlib.metrics.pareto import pareto_front
from sbdlib.metrics.posterior import MAX_CHUNK, posterior
from sbdlib.metrics.presence import best_threshold_accuracy, presence_latent, presence_share
from sbdlib.metrics.registry import (METRICS, Column, Evaluation, Metric, active_dims_metric, affine_r2_metric,
                                     elbo_metric, evaluate, factor_vae_metric, latents_used_metric, metric_columns,
                                     mig_metric, register_metric, unregister_metric)
