"""Datasets with known factors of variation: procedural circles, coloured sprites, file readers, and
notebook 13's scenes of several discs.

Every dataset here knows the ground-truth *factors* behind each image (position, hue, ...),
which is what disentanglement metrics (MIG, FactorVAE score) and latent-geometry plots need.
All datasets share the interface of :class:`FactorDataset`:

* ``factor_names``, ``factor_ranges``, ``factor_sizes`` describe the factors that vary;
* ``render(factors)`` turns a ``[N, K]`` factor tensor into ``[N, C, H, W]`` images in [0, 1];
* ``sample``, ``sample_discrete``, ``eval_set``, ``stream`` and ``grid`` draw images;
* ``sample_labels`` / ``labels_to_factors`` work on the discrete evaluation grid (metrics);
* ``normalise(factors, names)`` maps factors onto [-1, 1] (a decoder's input).

Seeds follow :mod:`sbdlib.checks`: ``sample``, ``sample_discrete``, ``eval_set`` and ``stream``
take an integer ``seed``; ``sample_factors`` and ``sample_labels``, the steps they are made of,
take the caller's ``generator``.

Pixel convention (all procedural sets): x grows to the right, y grows downwards and pixel
``(i, j)`` (row ``i``, column ``j``) is centred at ``((j + 0.5) / W, (i + 0.5) / H)`` in
frame units, where the frame is ``[0, 1] x [0, 1]``; :func:`centre_of_mass` measures
images in this convention.

Rendering is vectorised over images, runs on the device of the factors tensor, and works
in chunks of :data:`RENDER_CHUNK` images so the working set stays bounded whatever ``N`` is
(a few MB besides the output). Only a small window around each object is computed; the rest
of the zero-filled output is left alone.
Nothing is downloaded: circles and sprites are drawn procedurally, and the readers
(:class:`DSpritesFile`, :class:`Shapes3DFile`) only open files you already have.
"""

from sbdlib.data.base import (CONTINUOUS_GRID_SIZE, DEFAULT_IMAGE_SIZE, MAX_REJECTION_ROUNDS, PRESENT,
                              PRESENT_THRESHOLD, RANGE_TOLERANCE, RENDER_CHUNK, STREAM_BLOCK, FactorDataset,
                              centre_of_mass, hsv_to_rgb, rgb_to_hsv)
from sbdlib.data.circles import (AA_SUBSAMPLES, CIRCLE_SET_NAMES, HOLE_TYPES, RAMP_AREA_CORRECTION, Circles, disc_ramp,
                                 render_circle)
from sbdlib.data.files import DSpritesFile, Shapes3DFile
from sbdlib.data.registry import DATASET_NAMES, get_dataset
from sbdlib.data.scenes import SCENE_OBJECT_FACTORS, SCENE_RADIUS, Scenes
from sbdlib.data.sprites import (ELLIPSE_SEMI_AXES, HEART_WIDTH, SPRITE_CENTRE_RANGE, SPRITE_COLOUR_GRID,
                                 SPRITE_ORIENTATIONS, SPRITE_POSITIONS, SPRITE_REACH, SPRITE_SCALES, SPRITE_SHAPES,
                                 SPRITE_SV_RANGE, SPRITE_UNIT, ColoredSprites)
