"""The model registry: every buildable model is one `ModelEntry`, found by name.

Two kinds of entries:
- `"paper"`: a model a paper describes, registered by `@register_model(...)` on its builder in its family
  file (`unet.py`, `multiresunet.py`, ...), with the paper's figures beside it;
- `"pair"`: an encoder of `zoo.models.encoders.catalog` under a decoder of `zoo.models.decoders`, named
  `<decoder>_<encoder>` (`unet_resnet34`); `zoo.models.segmentation` registers every combination.

    zoo.list_models("unet_*")                         names, shell wildcards; pairs=False: the named models only
    zoo.build_model("unet_resnet34", input_shape=(256, 256, 3))
    entry = zoo.get_model_entry("half_unet")          .paper, .input_normalization, .small, .stages, ...
    entry.build_small(input_shape=(32, 32, 3))        the tiny test variant of the same graph

Adding a model is one file with its builder and one `@register_model(...)` line on it (plus the file's
import in `zoo/models/__init__.py`).
"""
from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import inspect
import re
from typing import Callable

KINDS = ("paper", "pair")  # a paper's named model; an encoder x decoder pair


@dataclasses.dataclass(frozen=True)
class Stages:
    """How `zoo.tools.histograms` reads a model's convs by stage, and the smaller model paper 002 cuts it down to.

    numbers: the stage numbers the model's layers carry, in the full model's numbering (Half U-Net: 0, 1, 4, 7, 8)
    layers: (regex, group, branch) rules: a conv layer whose name fully matches `regex` belongs to group
        `group.format(*match.groups())` (`"stage{n}"` for stage n, or e.g. `"respath{n}"`) and to branch
        `branch.format(*match.groups())`; convs no rule matches are a group of their own
    unit: what the stages are called in the suggestion ("stages", "MultiRes blocks")
    smaller: the registered model paper 002 cuts this one down to; None when the zoo has none
    drops: the stage numbers that cut removes
    reason: the paper's evidence for the cut (with `smaller`), or what to do where the zoo has no smaller model
    bottleneck: the stage number of the bottleneck
    """

    numbers: tuple
    layers: tuple
    unit: str = "stages"
    smaller: str | None = None
    drops: tuple = ()
    reason: str = ""
    bottleneck: int = 4

    def place(self, layer: str) -> tuple[str, str] | None:
        """(group, branch) of a conv layer name by these rules, or None when no rule matches."""
        for pattern, group, branch in self.layers:
            if m := re.fullmatch(pattern, layer):
                return group.format(*m.groups()), branch.format(*m.groups())
        return None


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """One buildable model and what is known about it.

    name: registry name, also the Keras model's name
    builder: function(**kwargs) -> keras.Model
    kind: "paper" (a paper's named model) or "pair" (an encoder x decoder pair)
    paper: the paper's figures: `source` (paper and table), `input_shape` they are given at, and any of
        `params` (all weights; trainable only with `params_kind="trainable"`), `flops` (multiplications and
        additions counted apart), `macs`, `note`, ... (empty for pairs)
    input_normalization: {"mean": (r, g, b), "std": (r, g, b)} in [0, 1] pixel units: the data pipeline feeds
        `(x - mean) / std` (a pretrained encoder's statistics); None: pixels in [0, 1]
    small: builder arguments that make a tiny variant of the same graph (same layer types, fewer channels
        or blocks), for tests
    stages: how the histogram tool groups the convs by stage (`Stages`); None for models it does not cut
    encoder, decoder: catalogue names of the encoder and decoder the model is built from, else None
    """

    name: str
    builder: Callable
    kind: str = "paper"
    paper: dict = dataclasses.field(default_factory=dict)
    input_normalization: dict | None = None
    small: dict = dataclasses.field(default_factory=dict)
    stages: Stages | None = None
    encoder: str | None = None
    decoder: str | None = None

    def build(self, **kwargs):
        """The model; keyword arguments go to the builder (`activation=None` gives logits)."""
        return self.builder(**kwargs)

    def build_small(self, **kwargs):
        """The tiny variant (`small` arguments; `kwargs` override them)."""
        return self.builder(**{**self.small, **kwargs})

    @property
    def signature(self) -> inspect.Signature:
        """The builder's signature: which keyword arguments the model takes."""
        return inspect.signature(self.builder)

    @property
    def takes_encoder_weights(self) -> bool:
        """True when the model has an ImageNet-initialisable encoder (an `encoder_weights` argument)."""
        return "encoder_weights" in self.signature.parameters

    def info(self) -> dict:
        """One dict: the paper's figures, `kind`, and `input_normalization`, `encoder`, `decoder` when set."""
        out = {**self.paper, "kind": self.kind}
        for key in ("input_normalization", "encoder", "decoder"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


class UnknownModelError(KeyError):
    """A name no entry has; the message is one line with the closest names."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


_ENTRIES: dict[str, ModelEntry] = {}


def register_model(fn: Callable | None = None, *, name: str | None = None, kind: str = "paper",
                   paper: dict | None = None, input_normalization: dict | None = None, small: dict | None = None,
                   stages: Stages | None = None, encoder: str | None = None, decoder: str | None = None):
    """Register a builder as a model (under its function name unless `name`); raises on a duplicate name.

    A decorator, bare (`@register_model`) or with the entry's metadata (see `ModelEntry`):
    `@register_model(paper={"source": "paper 002, Table 4", "params": 21.9776e6, "input_shape": (512, 512, 3)},
    small={"filters": (8, 16, 32, 64, 128)})`. Returns the builder unchanged.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")

    def wrap(f: Callable) -> Callable:
        key = name or f.__name__
        if key in _ENTRIES:
            raise ValueError(f"model {key!r} is already registered")
        _ENTRIES[key] = ModelEntry(key, f, kind, dict(paper or {}),
                                   dict(input_normalization) if input_normalization else None, dict(small or {}),
                                   stages, encoder, decoder)
        return f

    return wrap(fn) if fn is not None else wrap


def did_you_mean(name: str, known) -> str:
    """` Did you mean 'a' or 'b'?` for the names in `known` closest to `name`, or "" when none is close."""
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.5)
    return f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def _components() -> tuple[list[str], list[str]]:
    """(decoders, encoders) the pair entries are built from, in registration order."""
    pairs = [e for e in _ENTRIES.values() if e.kind == "pair"]
    return list(dict.fromkeys(e.decoder for e in pairs)), list(dict.fromkeys(e.encoder for e in pairs))


def unknown_model_message(name: str) -> str:
    """One-line error text for an unknown model name, with the closest registered names."""
    named = ", ".join(list_models(pairs=False))
    decoders, encoders = _components()
    pairs = (f"; pairs <decoder>_<encoder> of decoders {', '.join(decoders)} and encoders {', '.join(encoders)}"
             if decoders else "")
    return f"unknown model {name!r}.{did_you_mean(name, _ENTRIES)} Models: {named}{pairs}"


def get_model_entry(name: str) -> ModelEntry:
    """The registry entry of a model; UnknownModelError (a KeyError, one line with the closest names) otherwise."""
    if name not in _ENTRIES:
        raise UnknownModelError(unknown_model_message(name))
    return _ENTRIES[name]


def build_model(name: str, **kwargs):
    """Build a registered model by name; keyword arguments go to its builder (`activation=None` gives logits)."""
    return get_model_entry(name).build(**kwargs)


def list_models(pattern: str = "*", *, pairs: bool = True, papers: bool = True) -> list[str]:
    """Sorted names of the registered models matching a shell-style pattern (`"unet_*"`): the papers' named
    models and the encoder x decoder pairs; `pairs=False` leaves out the pairs, `papers=False` the named models."""
    kinds = {kind for kind, wanted in (("paper", papers), ("pair", pairs)) if wanted}
    return sorted(n for n, e in _ENTRIES.items() if e.kind in kinds and fnmatch.fnmatchcase(n, pattern))


def get_model_info(name: str) -> dict:
    """A model's metadata as one dict (`ModelEntry.info`): paper figures, `input_normalization`, `kind`, ..."""
    return get_model_entry(name).info()


def resolve_model_name(model: str, encoder: str | None = None) -> str:
    """The registry name of `model`, or of the pair `model` (a decoder) x `encoder`: (`"unet"`, `"resnet34"`) ->
    `"unet_resnet34"`, the spelling of train.py's `--model DECODER --encoder ENCODER`.

    Raises UnknownModelError with one line naming the closest model, decoder or encoder.
    """
    if encoder is None:
        return get_model_entry(model).name
    for entry in _ENTRIES.values():
        if entry.kind == "pair" and (entry.decoder, entry.encoder) == (model, encoder):
            return entry.name
    decoders, encoders = _components()
    if model not in decoders:
        raise UnknownModelError(f"unknown decoder {model!r}.{did_you_mean(model, decoders)} "
                                f"Decoders: {', '.join(decoders)}")
    raise UnknownModelError(f"unknown encoder {encoder!r}.{did_you_mean(encoder, encoders)} "
                            f"Encoders: {', '.join(encoders)}")


def has_pretrained_encoder(name: str) -> bool:
    """True when model `name` takes ImageNet weights for its encoder (`encoder_weights`): every pair, and the
    named models built on a catalogued encoder."""
    return get_model_entry(name).takes_encoder_weights
