"""One registry of models: `@register_model` on a builder makes it buildable by name."""
from __future__ import annotations

import difflib
import fnmatch
from typing import Callable

_MODELS: dict[str, Callable] = {}
_PAPER: dict[str, dict] = {}


def register_model(fn: Callable | None = None, *, paper: dict | None = None):
    """Register a builder under its function name; raises on a duplicate name.

    Usable bare (`@register_model`) or with the paper's reference figures
    (`@register_model(paper={"params": 21.9776e6, "flops": 329.7e9, "input_shape": (512, 512, 3)})`).
    """

    def wrap(f: Callable) -> Callable:
        name = f.__name__
        if name in _MODELS:
            raise ValueError(f"model {name!r} is already registered")
        _MODELS[name] = f
        _PAPER[name] = dict(paper or {})
        return f

    return wrap(fn) if fn is not None else wrap


def did_you_mean(name: str, known) -> str:
    """` Did you mean 'a' or 'b'?` for the names in `known` closest to `name`, or "" when none is close."""
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    return f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def unknown_model_message(name: str) -> str:
    """One-line error text for an unknown model name, with the closest registered names."""
    return f"unknown model {name!r}.{did_you_mean(name, _MODELS)} Known models: {', '.join(sorted(_MODELS))}"


def build_model(name: str, *, encoder: str | None = None, **kwargs):
    """Build a registered model by name; keyword arguments go to its builder (`activation=None` gives logits).

    With `encoder` (a `zoo.models.encoders.catalog` name), `name` is a decoder of `zoo.models.decoders` and the pair is
    built by `zoo.models.segmentation.build_segmentation_model` (`build_model("unet", encoder="resnet34")`).
    """
    if encoder is not None:
        from zoo.models.segmentation import build_segmentation_model

        return build_segmentation_model(encoder, name, **kwargs)
    if name not in _MODELS:
        raise KeyError(unknown_model_message(name))
    return _MODELS[name](**kwargs)


def list_models(pattern: str = "*") -> list[str]:
    """Sorted registered model names matching a shell-style pattern."""
    return sorted(n for n in _MODELS if fnmatch.fnmatch(n, pattern))


def get_model_info(name: str) -> dict:
    """The paper's reference figures for a model (params, flops, input_shape, source), possibly empty."""
    if name not in _MODELS:
        raise KeyError(unknown_model_message(name))
    return dict(_PAPER[name])


def builder_signature(name: str):
    """The `inspect.Signature` of a registered builder (which keyword arguments it takes)."""
    import inspect

    if name not in _MODELS:
        raise KeyError(unknown_model_message(name))
    return inspect.signature(_MODELS[name])


def has_pretrained_encoder(name: str) -> bool:
    """True when the model has an ImageNet-initialisable encoder (`encoder_weights` argument)."""
    return "encoder_weights" in builder_signature(name).parameters or "input_normalization" in _PAPER[name]
