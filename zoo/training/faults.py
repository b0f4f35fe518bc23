"""Training faults the user can act on, each a one-line message."""
from __future__ import annotations

import contextlib
import re

import tensorflow as tf

class TrainingFault(RuntimeError):
    """Training stopped for a reason the user can act on; the message is one line."""


class NonFiniteLoss(TrainingFault):
    """The loss became NaN or infinite; the checkpoints of the last good epoch are kept."""


class OutOfMemory(TrainingFault):
    """Training ran out of memory; the message says which setting to lower."""


class XlaCompileError(TrainingFault):
    """`--jit-compile` was asked for a model or op that XLA cannot compile."""



@contextlib.contextmanager
def out_of_memory_hint(batch_size: int, image_size, width: float):
    """Turns TensorFlow's out-of-memory errors into `OutOfMemory` naming the settings to lower."""
    try:
        yield
    except (tf.errors.ResourceExhaustedError, MemoryError) as e:
        kind = "host memory" if isinstance(e, MemoryError) else "accelerator/host memory"
        raise OutOfMemory(f"out of {kind} at --batch-size {batch_size}, --image-size {image_size[0]}x{image_size[1]}, "
                          f"--width {width:g}; lower --batch-size first, then --image-size or --width") from None


@contextlib.contextmanager
def xla_failure_hint(jit_compile: bool, model_name: str):
    """With XLA on, turns a compilation failure into `XlaCompileError` naming the op and the way out."""
    try:
        yield
    except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError, tf.errors.InternalError) as e:
        text = " ".join(str(getattr(e, "message", e)).split())
        if not jit_compile or not any(k in text for k in ("XLA", "xla", "jit", "compil")):
            raise
        op = re.search(r"unsupported operations?[^:]*: ?(\S+)|op '?(\w+)'? .{0,40}(?:not|un)supported", text, re.I)
        name = next((g for g in (op.groups() if op else ()) if g), None)
        hint = " or --model-arg upsample=bilinear" if name == "ResizeNearestNeighborGrad" else ""
        raise XlaCompileError(f"--jit-compile: XLA cannot compile {model_name}"
                              f"{f' (op {name})' if name else ''}; run without --jit-compile{hint}") from None


