"""Feature Pyramid Network (Lin et al. 2017; Kirillov et al.'s semantic-segmentation head): top-down pathway with
lateral connections, merged at stride 4. A standard segmentation baseline; built by smp.

Decoder options: `decoder_pyramid_channels` (256), `decoder_segmentation_channels` (128), `decoder_dropout` (0.2).
"""

from __future__ import annotations

from .smp_base import SmpNet


class FPN(SmpNet):
    ARCH = "fpn"
