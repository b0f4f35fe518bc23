"""The encoder catalogue: every encoder a decoder can sit on, by name. Encoders are parts, not models:
`zoo.models.segmentation` registers every encoder under every decoder as the model `<decoder>_<encoder>`.

An entry names a module of this package that follows the convention of `zoo/models/encoders/__init__.py`
(a builder returning features by stride, `load_imagenet(model, path, **kw)`, `INPUT_NORMALIZATION`),
the builder's fixed arguments, the arguments `load_imagenet` needs from them, and the arguments that
make the encoder tiny for the pairs' test variant (same layer types, fewer channels or blocks).
Registering an encoder is one line.
"""
from __future__ import annotations

import dataclasses
import importlib

from zoo.models.encoders import efficientnet as _efficientnet
from zoo.models.registry import did_you_mean


@dataclasses.dataclass(frozen=True)
class EncoderEntry:
    """One catalogued encoder: `module.builder(inputs, **args)` -> features by stride."""

    name: str
    module: str  # under zoo.models.encoders
    builder: str
    args: dict = dataclasses.field(default_factory=dict)
    weights_args: tuple = ()  # builder arguments `load_imagenet` takes as keywords (e.g. depth)
    small: dict = dataclasses.field(default_factory=dict)  # tiny variant: the pairs' test configuration

    def load_module(self):
        return importlib.import_module(f"zoo.models.encoders.{self.module}")

    def build(self, inputs, **overrides) -> dict:
        """Add the encoder to the graph of `inputs`; `overrides` replace catalogue arguments."""
        return getattr(self.load_module(), self.builder)(inputs, **{**self.args, **overrides})

    def load_imagenet(self, model, path, **overrides) -> int:
        """Copy the official ImageNet weights into `model`'s encoder layers (path None/"imagenet": Keras cache)."""
        args = {**self.args, **overrides}
        kw = {k: args[k] for k in self.weights_args if k in args}
        return self.load_module().load_imagenet(model, None if path == "imagenet" else path, **kw)

    @property
    def input_normalization(self) -> dict:
        return dict(self.load_module().INPUT_NORMALIZATION)


ENCODERS: dict[str, EncoderEntry] = {}


def register_encoder(name: str, module: str, builder: str, *, args=None, weights_args=(), small=None) -> EncoderEntry:
    """Add an encoder to the catalogue (one line per encoder below); raises on a duplicate name."""
    if name in ENCODERS:
        raise ValueError(f"encoder {name!r} is already catalogued")
    ENCODERS[name] = EncoderEntry(name, module, builder, dict(args or {}), tuple(weights_args), dict(small or {}))
    return ENCODERS[name]


_MNV3 = ("variant", "alpha", "minimalistic")
_MNV3_SMALL = {"minimalistic": True, "alpha": 0.35}  # no SE / hard-swish: test_mobilenet covers those layers
_RES_SMALL = {"width": 0.125}  # same blocks, an eighth of the channels

register_encoder("mobilenetv3_large", "mobilenetv3", "mobilenetv3", args={"variant": "large", "alpha": 1.0},
                 weights_args=_MNV3, small=_MNV3_SMALL)
register_encoder("mobilenetv3_small", "mobilenetv3", "mobilenetv3", args={"variant": "small", "alpha": 1.0},
                 weights_args=_MNV3, small=_MNV3_SMALL)
for _v in ("b0", "b1", "b2", "b3"):  # tiny: a quarter of the width, a tenth of the depth (7 MBConv blocks for B0)
    _w, _d = _efficientnet.VARIANTS[_v]
    register_encoder(f"efficientnet_{_v}", "efficientnet", "efficientnet", args={"variant": _v},
                     weights_args=("variant",), small={"variant": (0.25 * _w, 0.1 * _d)})
for _d in (18, 34, 50, 101):
    register_encoder(f"resnet{_d}", "resnet", "resnet", args={"depth": _d}, weights_args=("depth",), small=_RES_SMALL)

register_encoder("mobilenetv2", "mobilenetv2", "mobilenetv2", args={"alpha": 1.0}, weights_args=("alpha",),
                 small={"alpha": 0.35, "top": False})
for _v in _efficientnet.LITE_VARIANTS:  # no squeeze-excite, ReLU6; no Keras weights (load_imagenet says so)
    _w, _d = _efficientnet.LITE_VARIANTS[_v]
    register_encoder(f"efficientnet_{_v}", "efficientnet", "efficientnet", args={"variant": _v},
                     weights_args=("variant",), small={"variant": (0.25 * _w, 0.1 * _d), "lite": True})
register_encoder("xception", "xception", "xception", small={"width": 0.125})
for _v, _name in (("y008", "regnety_800mf"), ("y016", "regnety_1600mf")):  # tiny: 5 Y blocks, group width 8
    register_encoder(_name, "regnet", "regnet", args={"variant": _v}, weights_args=("variant",),
                     small={"variant": ((1, 1, 2, 1), (16, 32, 48, 64), 8)})


def list_encoders() -> list[str]:
    """Catalogued encoder names, in catalogue order."""
    return list(ENCODERS)


def unknown_encoder_message(name: str) -> str:
    """One line for an unknown encoder name, with the closest catalogued names."""
    return f"unknown encoder {name!r}.{did_you_mean(name, ENCODERS)} Encoders: {', '.join(ENCODERS)}"


def get_encoder(name: str) -> EncoderEntry:
    """The catalogue entry of an encoder; KeyError with a one-line message otherwise."""
    if name not in ENCODERS:
        raise KeyError(unknown_encoder_message(name))
    return ENCODERS[name]


def feature_channels(name: str, input_shape=(64, 64, 3), **overrides) -> dict:
    """{stride: channels} of an encoder's features, measured by adding it to a throwaway input."""
    import tf_keras as keras

    features = get_encoder(name).build(keras.Input(input_shape), **overrides)
    return {s: int(t.shape[-1]) for s, t in sorted(features.items())}

