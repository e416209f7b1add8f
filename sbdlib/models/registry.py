"""Every decoder and ablation by name (:data:`DECODERS`, :data:`VARIANTS`) and a model's identity from
them: key, label, colour.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from torch import nn

from sbdlib.models.decoders import CoordConvDecoder, DeconvDecoder, SpatialBroadcastDecoder


@dataclass(frozen=True)
class DecoderInfo:
    """A named decoder: how :class:`~sbdlib.models.VAE` builds it, and how every figure names and colours it.

    ``build(latent_dim, image_channels, width=, image_size=, deconv_channels=, options=)``
    returns the module; ``deconv_channels`` are the architecture's DeConv widths (Table 1 or
    2); ``options`` (the VAE's ``decoder_kwargs``) records the widths a DeConv decoder used.
    """

    build: Callable[..., nn.Module]
    label: str
    color: str


def _build_sbd(latent_dim: int, image_channels: int, *, width: int, image_size: int, deconv_channels: Sequence[int],
               options: dict[str, Any]) -> nn.Module:
    """The SBD at ``width`` (the same in Tables 1 and 2)."""
    return SpatialBroadcastDecoder(latent_dim, image_channels, width=width, image_size=image_size, **options)


def _build_deconv(cls: type) -> Callable[..., nn.Module]:
    """A builder of a DeConv-family decoder with the architecture's channels unless the options give them."""
    def build(latent_dim: int, image_channels: int, *, width: int, image_size: int, deconv_channels: Sequence[int],
              options: dict[str, Any]) -> nn.Module:
        options.setdefault("channels", deconv_channels)  # recorded in VAE.config, as checkpoints hold it
        return cls(latent_dim, image_channels, image_size=image_size, **options)
    return build


# The one place a decoder is added: its builder, display name and colour (figures.COLORS / LABELS).
# Order: how figures list them. Colours: colour-blind-safe Okabe-Ito vermillion, blue, bluish green.
DECODERS: dict[str, DecoderInfo] = {
    "deconv": DecoderInfo(_build_deconv(DeconvDecoder), "DeConv", "#D55E00"),
    "sbd": DecoderInfo(_build_sbd, "Spatial Broadcast", "#0072B2"),
    "coordconv": DecoderInfo(_build_deconv(CoordConvDecoder), "CoordConv", "#009E73"),
}


@dataclass(frozen=True)
class Variant:
    """A named ablation of a decoder: its display name (also its run-name part) and its options.

    ``options(width)`` gives the decoder's keyword arguments at a model width.
    """

    decoder: str
    label: str
    options: Callable[[int], dict[str, Any]]


def _option(name: str, value: Any) -> Callable[[int], dict[str, Any]]:
    """``options(width) = {name: value}``."""
    return lambda width: {name: value}


MAX_VARIANT_SIZE = 9  # depths, MLP layers and upscales of the named variants: 0..9
VARIANTS: dict[str, Variant] = {
    "shuffled-coords": Variant("sbd", "shuffled-coords", _option("shuffle_coords", True)),  # App. B
    **{f"sbd-depth-{n}": Variant("sbd", f"depth-{n}", _option("num_layers", n))  # Table 5: conv layers
       for n in range(MAX_VARIANT_SIZE + 1)},
    **{f"sbd-mlp-{n}": Variant("sbd", f"mlp-{n}", _option("mlp_layers", n))  # Table 7: FC layers before the broadcast
       for n in range(MAX_VARIANT_SIZE + 1)},
    **{f"sbd-upscale-{n}": Variant("sbd", f"upscale-{n}", _option("upscales", n))  # Table 10: stride-2 layers
       for n in range(MAX_VARIANT_SIZE + 1)},
    **{f"deconv-depth-{n}": Variant("deconv", f"depth-{n}",  # Table 6: deconvolutions in all
                                    lambda width, n=n: {"channels": (width,) * (n - 1)})
       for n in range(MAX_VARIANT_SIZE + 1)},
}


def variant_options(variant: str, width: int) -> dict[str, Any]:
    """Decoder options of a named ablation variant at a model width (empty name: the default architecture)."""
    if not variant:
        return {}
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected '', 'shuffled-coords', 'sbd-depth-N', 'sbd-mlp-N', "
                         f"'sbd-upscale-N' or 'deconv-depth-N' (N in 0..{MAX_VARIANT_SIZE}; models.VARIANTS)")
    return VARIANTS[variant].options(width)


VARIANT_SEPARATOR = "/"  # model keys of ablation variants: "sbd/shuffled-coords"
VARIANT_TINT = 0.45  # a variant's colour: its decoder's, mixed this far towards white


def model_key(decoder: str, variant: str = "") -> str:
    """A model's key in figures and summaries: its decoder (``"sbd"``), or ``decoder/variant`` for a variant."""
    return f"{decoder}{VARIANT_SEPARATOR}{variant}" if variant else decoder


def row_model_key(row: Mapping[str, Any]) -> str:
    """The model of a results row: its decoder (``"sbd"``), or ``decoder/variant`` for an ablation variant."""
    return model_key(str(row["decoder"]), row.get("variant") or "")


def model_label(decoder: str, variant: str = "") -> str:
    """A model's display name: its decoder's (``"Spatial Broadcast"``), and its variant's (``"..., depth-4"``)."""
    label = DECODERS[decoder].label
    return f"{label}, {VARIANTS[variant].label}" if variant else label


def model_color(decoder: str, variant: str = "") -> str:
    """A model's colour (``"#rrggbb"``): its decoder's, lightened for a variant, a member of its decoder's family."""
    color = DECODERS[decoder].color
    if not variant:
        return color
    rgb = [int(color[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    return "#" + "".join(f"{round((c + VARIANT_TINT * (1.0 - c)) * 255):02x}" for c in rgb)


# Every registered model by its key: {key: (decoder, variant)}, looked up, never parsed.
MODELS: dict[str, tuple[str, str]] = {
    **{model_key(name): (name, "") for name in DECODERS},
    **{model_key(v.decoder, name): (v.decoder, name) for name, v in VARIANTS.items()},
}
