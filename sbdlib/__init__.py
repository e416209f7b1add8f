"""sbdlib: the library behind sbd-course (Watters et al., 2019, the Spatial Broadcast Decoder)."""

from sbdlib.scales import Scale, scale

__all__ = ["Scale", "scale"]
__version__ = "0.1.0"
