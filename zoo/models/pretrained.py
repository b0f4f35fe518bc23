"""ImageNet weights for the zoo's flat encoders, copied from `keras.applications` models by layer name.

Our encoders are rebuilt from tfmot-friendly layers, so the official weight files cannot be loaded
into them directly. Instead the official model is built with its weights file and every layer that
has weights is copied into our layer of the mapped name (shapes must agree). The file is a given path,
or the Keras cache (`~/.keras/models`, or `$KERAS_HOME/models`): like `keras.applications`, a file
absent from the cache is downloaded there on first use from the official URL and checked against its
published hash (`KERAS_WEIGHTS`). Without a network that is a one-line `WeightsNotFound`.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Callable, Mapping

_GCS = "https://storage.googleapis.com/tensorflow/keras-applications/"
# Base URL -> {no-top file: published hash}, exactly as tf_keras/src/applications/{mobilenet_v2, mobilenet_v3,
# resnet, efficientnet, regnet, xception}.py fetch them (MobileNetV2 publishes no hash); only the files our
# encoders load. tests/test_pretrained.py checks them against the installed tf_keras.
_PUBLISHED = {
    _GCS + "mobilenet_v2/": {f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{rows}_no_top.h5": None
                             for alpha in (0.35, 0.5, 0.75, 1.0, 1.3, 1.4) for rows in (96, 128, 160, 192, 224)},
    _GCS + "mobilenet_v3/": {
        "weights_mobilenet_v3_large_224_0.75_float_no_top_v2.h5": "40af19a13ebea4e2ee0c676887f69a2e",
        "weights_mobilenet_v3_large_224_1.0_float_no_top_v2.h5": "07fb09a5933dd0c8eaafa16978110389",
        "weights_mobilenet_v3_large_minimalistic_224_1.0_float_no_top_v2.h5": "ec5221f64a2f6d1ef965a614bdae7973",
        "weights_mobilenet_v3_small_224_0.75_float_no_top_v2.h5": "ebdb5cc8e0b497cd13a7c275d475c819",
        "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5": "d3e8ec802a04aa4fc771ee12a9a9b836",
        "weights_mobilenet_v3_small_minimalistic_224_1.0_float_no_top_v2.h5": "cde8136e733e811080d9fcd8a252f7e4",
    },
    _GCS + "resnet/": {
        "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5": "4d473c1dd8becc155b73f8504c6f6626",
        "resnet101_weights_tf_dim_ordering_tf_kernels_notop.h5": "88cf7a10940856eca736dc7b7e228a21",
    },
    "https://storage.googleapis.com/keras-applications/": {
        "efficientnetb0_notop.h5": "50bc09e76180e00e4465e1a485ddc09d",
        "efficientnetb1_notop.h5": "74c4e6b3e1f6a1eea24c589628592432",
        "efficientnetb2_notop.h5": "111f8e2ac8aa800a7a99e3239f7bfb39",
        "efficientnetb3_notop.h5": "af6d107764bb5b1abb91932881670226",
    },
    _GCS + "regnet/": {
        "regnety008_notop.h5": "b11f5432a216ee640fe9be6e32939defa8d08b8d136349bf3690715a98752ca1",
        "regnety016_notop.h5": "d7404f50205e82d793e219afb9eb2bfeb781b6b2d316a6128c6d7d7dacab7f57",
    },
    _GCS + "xception/": {"xception_weights_tf_dim_ordering_tf_kernels_notop.h5": "b0042744bf5b25fce3cb969f33bebb97"},
}
# file name -> (URL, md5 or sha256 hash or None): where `weights_file` downloads a file absent from the cache.
KERAS_WEIGHTS: dict[str, tuple[str, str | None]] = {
    name: (base + name, file_hash) for base, files in _PUBLISHED.items() for name, file_hash in files.items()}


class WeightsNotFound(FileNotFoundError):
    """The weights file is absent, could not be downloaded or does not match its published hash (one-line message)."""


def keras_cache_dir() -> Path:
    """Where Keras keeps downloaded weight files."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"


def matches_hash(file: Path, file_hash: str | None) -> bool:
    """Whether `file` has `file_hash` (sha256 if 64 hex digits, else md5, as Keras' `get_file`); None: always."""
    if file_hash is None:
        return True
    digest = hashlib.sha256() if len(file_hash) == 64 else hashlib.md5()
    with open(file, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest() == file_hash


def fetch(filename: str, url: str, file_hash: str | None, cache: Path) -> Path:
    """Download `url` to `cache / filename` with `keras.utils.get_file`, checked against `file_hash`.

    The only place that uses the network (tests replace it, or give `file://` URLs in `KERAS_WEIGHTS`).
    """
    import tf_keras as keras

    return Path(keras.utils.get_file(filename, url, file_hash=file_hash, cache_subdir=cache.name,
                                     cache_dir=str(cache.parent)))


def _reason(err: Exception) -> str:
    """The gist of a download error in one line (get_file wraps urllib's as 'URL fetch failure on URL: code -- why')."""
    text = (str(err).strip().splitlines() or [type(err).__name__])[0]
    return text.rpartition(" -- ")[2] if text.startswith("URL fetch failure") else text


def weights_file(filename: str, path: str | os.PathLike | None = None) -> Path:
    """The local weights file: `path` if given (a file, or a folder holding `filename`), else the Keras cache.

    A file absent from the cache, or there but not matching its published hash, is downloaded from its
    `KERAS_WEIGHTS` URL (as `keras.applications` does); a file in the cache with the right hash is used
    without network. Raises WeightsNotFound with a one-line message naming the file, its URL and where to
    put it when the file is missing and cannot be downloaded, or the download does not match its hash.
    """
    url, file_hash = KERAS_WEIGHTS.get(filename, (None, None))
    if path not in (None, "", "imagenet"):
        p = Path(path).expanduser()
        if p.is_dir():
            p = p / filename
        if not p.is_file():
            raise WeightsNotFound(f"{p}: weights file not found (expected {filename}"
                                  f"{f', from {url}' if url else ''})")
        return p
    if url is None:
        raise WeightsNotFound(f"{filename}: keras.applications publishes no such ImageNet weights file")
    cache = keras_cache_dir()
    cached = cache / filename
    stale = cached.is_file() and not matches_hash(cached, file_hash)
    if cached.is_file() and not stale:
        return cached
    by_hand = f"download {url} and put it in {cache}, or pass --encoder-weights /path/to/{filename}"
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError:
        pass  # get_file falls back to /tmp/.keras
    try:
        return fetch(filename, url, file_hash, cache)
    except Exception as err:  # noqa: BLE001 - get_file raises a bare Exception for urllib errors
        if cached.is_file() and not matches_hash(cached, file_hash):  # downloaded, but not the published file
            cached.unlink()
            raise WeightsNotFound(f"{filename} downloaded from {url} does not match its published hash {file_hash} "
                                  f"(deleted it); {by_hand}") from None
        what = (f"the cached {cached} does not match its published hash {file_hash} and a fresh copy"
                if stale else f"ImageNet weights {filename} are not on this machine and")
        raise WeightsNotFound(f"{what} could not be downloaded ({_reason(err)}): {by_hand}") from None


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
