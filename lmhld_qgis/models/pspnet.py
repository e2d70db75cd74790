"""PSPNet (Zhao et al. 2017): pyramid pooling at four scales over the encoder's stride-8 features, then
upsampling. A Landslide4Sense baseline; built by smp (encoder depth 3 by default, so inputs divide by 8).

Decoder options: `psp_out_channels` (512), `psp_dropout` (0.2), `upsampling` (8).
"""

from __future__ import annotations

from .smp_base import SmpNet


class PSPNet(SmpNet):
    ARCH = "pspnet"
