"""DeepLab-v3+ (Chen et al. 2018): atrous spatial pyramid pooling on a dilated encoder (output stride 16) and a
light decoder that refines with stride-4 features. A baseline of Landslide4Sense and CAS; built by smp.

Decoder options: `decoder_channels` (256), `decoder_atrous_rates` ((12, 24, 36)), `encoder_output_stride` (16).
"""

from __future__ import annotations

from .smp_base import SmpNet


class DeepLabV3Plus(SmpNet):
    ARCH = "deeplabv3plus"
