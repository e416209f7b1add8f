"""Training: the loop (:func:`train`, :func:`train_many`, :func:`train_step`), the two population
engines and the one step they share, a run's :class:`History`, the progress display,
checkpoints, the objectives (the ELBO and FactorVAE's loss) and notebook 02's rendering demo.

:mod:`sbdlib.training.loop`'s docstring says what the loop guarantees (safe to stop, never
overwrites by accident, safe to diverge, precision per machine).
"""

from sbdlib.training.checkpoints import (COMPACTED, FORMAT, VERSION, compact_checkpoint, describe_progress, is_finished,
                                         load_checkpoint, load_state, read_checkpoint, save_checkpoint,
                                         write_atomically)
from sbdlib.training.engines import LOGGED, POPULATION_ENGINES, MemberScaler
from sbdlib.training.history import History, images_per_second
from sbdlib.training.loop import (NOISE_SEED_STRIDE, OOM_HEADROOM, REPORTS_PER_RUN, population_fit, train, train_many,
                                  train_step)
from sbdlib.training.objectives import (FACTOR_VAE_BATCH_SIZE, FACTOR_VAE_DISC_BETAS, FACTOR_VAE_DISC_LR,
                                        FACTOR_VAE_GAMMA, FACTOR_VAE_LR, BetaVAE, FactorVAE, bernoulli_nll, gaussian_kl,
                                        permute_dims, tc_estimate)
from sbdlib.training.progress import PLOT_REDRAWS, PROGRESS_MODES, Progress, in_notebook
from sbdlib.training.renderer import train_renderer
