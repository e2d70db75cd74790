"""LinkNet (Chaurasia & Culurciello 2017): a ResNet encoder whose features are added (not concatenated) to the
decoder of the same level, for few parameters and fast inference. A Landslide4Sense baseline; built by smp.
"""

from __future__ import annotations

from .smp_base import SmpNet


class LinkNet(SmpNet):
    ARCH = "linknet"
