"""The decoder catalogue: decoder name -> function over encoder features. Decoders are parts, not models:
`zoo.models.segmentation` registers every decoder over every encoder as the model `<decoder>_<encoder>`.

A decoder function takes the encoder's features keyed by stride (`zoo/models/encoders` convention) and its
options, and returns the map the head goes on (stride 1, 2 or 4; the head upsamples the rest), or,
with deep supervision, a list of maps whose last is the main output. Each function lives with its
model family and is imported when used, so this file only names them:

| decoder | function | from |
|---|---|---|
| `unet` | `zoo.models.unet.encoder_unet_decoder` | smp `Unet`, paper 000's comparison U-Net |
| `unetpp` | `zoo.models.unetpp.encoder_nested_decoder(dense=True)` | UNet++ (Zhou et al. 2018), smp `UnetPlusPlus` |
| `unetplus` | `zoo.models.unetpp.encoder_nested_decoder(dense=False)` | paper 003's nested decoder without dense skips |
| `deeplabv3plus` | `zoo.models.deeplabv3plus.deeplabv3plus_decoder` | separable ASPP, output stride 16 or 8 |
| `rfe_unet` | `zoo.models.rfe_unet.rfe_unet_decoder` | paper 004's RFE skips and transposed-conv stages |
| `fpn` | `zoo.models.fpn.fpn_decoder` | panoptic FPN head (Kirillov et al. 2019), smp `FPN` |
"""
from __future__ import annotations

import dataclasses
import importlib

from zoo.models.registry import did_you_mean


@dataclasses.dataclass(frozen=True)
class DecoderEntry:
    """One catalogued decoder: `module.function(features, **args, **options)`."""

    name: str
    module: str
    function: str
    args: dict = dataclasses.field(default_factory=dict)
    head_kernel: int = 1  # the head conv's kernel (smp: 3 for Unet, 1 for the others)
    output_strides: tuple = (32,)  # encoder output strides it accepts, default first
    small: dict = dataclasses.field(default_factory=dict)  # narrow options: the pairs' tiny test variant

    def build(self, features: dict, **options):
        fn = getattr(importlib.import_module(self.module), self.function)
        return fn(features, **{**self.args, **options})


DECODERS: dict[str, DecoderEntry] = {}


def register_decoder(name: str, module: str, function: str, **kw) -> DecoderEntry:
    """Add a decoder to the catalogue; raises on a duplicate name."""
    if name in DECODERS:
        raise ValueError(f"decoder {name!r} is already catalogued")
    DECODERS[name] = DecoderEntry(name, module, function, **kw)
    return DECODERS[name]


_NESTED_SMALL = {"filters": (8, 8, 16, 16), "final_filters": 8}
register_decoder("unet", "zoo.models.unet", "encoder_unet_decoder", head_kernel=3, small={"decoder_channels": (16, 16, 8, 8, 8)})
register_decoder("unetpp", "zoo.models.unetpp", "encoder_nested_decoder", args={"dense": True}, small=_NESTED_SMALL)
register_decoder("unetplus", "zoo.models.unetpp", "encoder_nested_decoder", args={"dense": False}, small=_NESTED_SMALL)
register_decoder("deeplabv3plus", "zoo.models.deeplabv3plus", "deeplabv3plus_decoder", output_strides=(16, 8),
                 small={"decoder_channels": 16, "low_level_channels": 8})
register_decoder("rfe_unet", "zoo.models.rfe_unet", "rfe_unet_decoder", small={"rfe_levels": (16,), "decoder_filters": (16, 16, 8, 8, 8)})
register_decoder("fpn", "zoo.models.fpn", "fpn_decoder", small={"pyramid_channels": 16, "segmentation_channels": 8})


def list_decoders() -> list[str]:
    """Catalogued decoder names, in catalogue order."""
    return list(DECODERS)


def unknown_decoder_message(name: str) -> str:
    """One line for an unknown decoder name, with the closest catalogued names."""
    return (f"unknown decoder {name!r}.{did_you_mean(name, DECODERS)} "
            f"Decoders: {', '.join(DECODERS)}")


def get_decoder(name: str) -> DecoderEntry:
    """The catalogue entry of a decoder; KeyError with a one-line message otherwise."""
    if name not in DECODERS:
        raise KeyError(unknown_decoder_message(name))
    return DECODERS[name]
