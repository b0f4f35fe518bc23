"""ImageNet weights for the zoo's flat encoders, copied from `keras.applications` models by layer name.

Our encoders are rebuilt from tfmot-friendly layers, so the official weight files cannot be loaded
into them directly. Instead the official model is built with its weights file and every layer that
has weights is copied into our layer of the mapped name (shapes must agree). Nothing is downloaded:
the file must be in the Keras cache (`~/.keras/models`, or `$KERAS_HOME/models`) or given as a path.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Mapping


class WeightsNotFound(FileNotFoundError):
    """The weights file is absent; the message says which file to fetch and where to put it."""


def keras_cache_dir() -> Path:
    """Where Keras keeps downloaded weight files."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"


def weights_file(filename: str, url: str, path: str | os.PathLike | None = None) -> Path:
    """The local weights file: `path` if given (a file, or a folder holding `filename`), else the Keras cache.

    Raises WeightsNotFound with a one-line message naming the file, its URL and where to put it.
    """
    if path not in (None, "", "imagenet"):
        p = Path(path).expanduser()
        if p.is_dir():
            p = p / filename
        if not p.is_file():
            raise WeightsNotFound(f"{p}: weights file not found (expected {filename}, from {url})")
        return p
    cached = keras_cache_dir() / filename
    if cached.is_file():
        return cached
    raise WeightsNotFound(f"ImageNet weights {filename} are not on this machine (no network here): download {url} "
                          f"and put it in {keras_cache_dir()}, or pass --encoder-weights /path/to/{filename}")


def copy_weights(target, reference, name_map: Mapping[str, str] | Callable[[str], str | None] | None = None) -> int:
    """Copy the weights of every `reference` layer that has weights into the `target` layer it maps to.

    `name_map` maps a reference layer name to ours (dict or function; `None` from the function skips
    the layer; default: same name). Every mapped layer must exist with identical weight shapes.
    Returns how many layers were copied.
    """
    if name_map is None:
        lookup = lambda name: name  # noqa: E731
    elif callable(name_map):
        lookup = name_map
    else:
        lookup = name_map.get
    ours = {layer.name: layer for layer in target.layers}
    copied = 0
    for ref_layer in reference.layers:
        weights = ref_layer.get_weights()
        if not weights:
            continue
        name = lookup(ref_layer.name)
        if name is None:
            continue
        if name not in ours:
            raise ValueError(f"{target.name}: no layer {name!r} for {reference.name} layer {ref_layer.name!r}")
        shapes = [w.shape for w in ours[name].get_weights()]
        if shapes != [w.shape for w in weights]:
            raise ValueError(f"{target.name}: layer {name!r} has weight shapes {shapes}, {reference.name} layer "
                             f"{ref_layer.name!r} has {[w.shape for w in weights]}")
        ours[name].set_weights(weights)
        copied += 1
    return copied
