"""The VAEs of Watters et al. (2019): encoder, DeConv decoder, Spatial Broadcast decoder.

Defaults reproduce Table 1 of the paper exactly (64 x 64 images, 10 latents, 64 channels,
4 x 4 kernels): encoder 467,476 parameters, DeConv decoder 268,291, SBD 81,027 (C = 3).

One module per part (the package presents their names):

* :func:`spatial_broadcast` (``broadcast``) -- Algorithm 1: tile z over the image, append x and y maps.
* :class:`Encoder` (``encoder``) -- Conv(4, s2) x 4 -> FC 256 -> FC 2 x latents.
* :class:`DeconvDecoder` (``decoders``) -- FC -> reshape 2 x 2 -> DeConv(4, s2) x 5.
* :class:`SpatialBroadcastDecoder` (``decoders``) -- broadcast -> Conv(4, s1, "same") x 3, no upsampling.
* :class:`CoordConvDecoder` (``decoders``) -- the DeConv decoder with coordinate maps before every layer.
* :class:`Discriminator` (``discriminator``) -- FactorVAE's total-correlation discriminator.
* :class:`VAE` (``vae``) -- an encoder, one of the decoders (or your own decoder module) and a likelihood.

:meth:`SpatialBroadcastDecoder.forward` runs Algorithm 1 as written, or, where it measured
faster, an exact fast path in one labelled branch: the first convolution computed without
tiling (:class:`BroadcastConv`; the tiled latents are constant over space, so their part of
the convolution is a per-pixel linear map of z, and the coordinate part does not depend on
the batch) and the other convolutions by :mod:`sbdlib.models.convolutions`.

Also here: the registries of decoders and ablations (``registry``), a decoder described for a
checkpoint (``descriptions``), the shared layers (``layers``) and notebook 13's slot model
(``slots``).
"""

from sbdlib.models.broadcast import (COORD_CHANNELS, COORD_SHUFFLE_SEED, coordinate_maps, shuffle_pixels,
                                     spatial_broadcast)
from sbdlib.models.decoders import (SBD_IMPLS, BroadcastConv, CoordConvDecoder, DeconvDecoder, SpatialBroadcastDecoder,
                                    fast_path_pays)
from sbdlib.models.descriptions import PLAIN_TYPES, build_decoder, decoder_arguments, describe_decoder
from sbdlib.models.discriminator import Discriminator
from sbdlib.models.encoder import Encoder
from sbdlib.models.layers import (HIDDEN, IMAGE_SIZE, KERNEL_SIZE, LATENT_DIM, WIDTH, SameConv2d, init_weights, mlp,
                                  same_padding, stride2_padding, trunc_normal_fan_in_)
from sbdlib.models.registry import (DECODERS, MAX_VARIANT_SIZE, MODELS, VARIANT_SEPARATOR, VARIANT_TINT, VARIANTS,
                                    DecoderInfo, Variant, model_color, model_key, model_label, row_model_key,
                                    variant_options)
from sbdlib.models.slots import (EPSILON, SLOT_DECODERS, SLOT_ITERATIONS, SlotAttention, SlotAutoencoder, SlotEncoder,
                                 composite, from_signed, slot_decoder, to_signed)
from sbdlib.models.vae import GAUSSIAN_VARIANCE, LIKELIHOODS, VAE, activation_memory, count_parameters
