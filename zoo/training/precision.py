"""Mixed precision for training, and float32 copies of mixed-precision models for export.

Keras mixed precision keeps weights in float32 and computes in float16 (GPUs) or bfloat16 (TPUs, and
CPUs with AVX512-BF16 / AMX). The zoo's heads already run their output activation in float32
(`zoo.models.blocks.segmentation_head`), so probabilities and losses stay float32. With `mixed_float16`,
`Model.compile` wraps the optimizer in a `LossScaleOptimizer` itself (dynamic loss scaling).
"""
from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import tf_keras as keras

from zoo.training.choices import POLICIES


def cpu_has_bfloat16() -> bool:
    """True when the CPU advertises bfloat16 instructions (Linux /proc/cpuinfo: avx512_bf16 or amx_bf16)."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_policy(name: str) -> str:
    """The Keras policy for `--mixed-precision NAME`: `auto` is float16 on a GPU, else bfloat16.

    Prints one warning line when bfloat16 runs on a CPU without bfloat16 instructions (it is emulated,
    so correct but slower than float32).
    """
    import tensorflow as tf

    if name not in POLICIES:
        raise ValueError(f"unknown mixed-precision policy {name!r}; choose from {', '.join(POLICIES)}")
    gpus = tf.config.list_physical_devices("GPU")
    if name == "auto":
        name = "mixed_float16" if gpus else "mixed_bfloat16"
    if name == "mixed_bfloat16" and not gpus and not cpu_has_bfloat16():
        print("warning: this CPU has no bfloat16 instructions; mixed_bfloat16 is emulated and slower than float32",
              file=sys.stderr)
    return name


@contextlib.contextmanager
def global_policy(name: str | None):
    """Build models under the Keras dtype policy `name` (None: leave float32), restoring float32 after."""
    if not name:
        yield
        return
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy("float32")


def is_float32(model) -> bool:
    """True when every layer of `model` computes in float32."""
    return all(getattr(layer, "compute_dtype", "float32") in ("float32", None) for layer in model.layers)


def float32_copy(model):
    """`model` rebuilt with every layer in float32 and the same weights (mixed-precision weights are
    already float32, so this is exact); `model` itself when it is float32 already. Export and QAT use it."""
    if is_float32(model):
        return model
    config = model.get_config()
    for layer in config["layers"]:
        if "dtype" in layer["config"]:
            layer["config"]["dtype"] = "float32"
    copy = model.__class__.from_config(config)
    copy.set_weights(model.get_weights())
    return copy
