"""Keras -> TFLite conversion in a closed set of modes, and a LiteRT runner that hides int8 I/O.

Modes (the table `deploy.formats.MODES`): `fp32`, `float16` (float16 weights), `dynamic` (int8 weights,
float activations), `int8` (full integer with a representative dataset, int8 input and output) and `qat`
(a model trained with fake-quant wrappers, converted to full integer with int8 input and output). Every
model is exported at batch 1 with static shapes, as microcontrollers and the Edge TPU need.
"""
from __future__ import annotations

import re

import numpy as np
import tensorflow as tf

from deploy import formats

MODES = tuple(formats.MODES)
INT8_MODES = formats.INT8_MODES


class ConversionError(RuntimeError):
    """A conversion failed; the message is one line naming the op or layer and the reason."""


def _one_line_reason(err: Exception) -> str:
    text = str(err)
    for pattern in (r"'([A-Za-z0-9_.]+)' op (.*?)(?:\n|$)", r"(\w+) op is neither a custom op nor a flex op",
                    r"loc\(\"([^\"]+)\"\).*?error: (.*?)(?:\n|$)"):
        m = re.search(pattern, text)
        if m:
            return " ".join(g.strip() for g in m.groups() if g)[:300]
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return (lines[-1] if lines else err.__class__.__name__)[:300]


def batch1_function(model):
    """The model as a concrete function with a static batch-1 input signature."""
    shape = [1, *model.input_shape[1:]]
    if None in shape:
        raise ConversionError(f"{model.name}: input shape {model.input_shape} is not static; build it with a fixed size")
    fn = tf.function(lambda x: model(x, training=False))
    return fn.get_concrete_function(tf.TensorSpec(shape, tf.float32, name="image"))


def to_tflite(model, mode: str, representative_data=None) -> bytes:
    """Convert a Keras model to a TFLite flatbuffer.

    Args:
        model: a tf_keras model (for `qat`, one returned by `tfmot.quantization.keras.quantize_model`).
        mode: one of `MODES`.
        representative_data: for `int8` and `qat` (the converter insists on it for int8 I/O), an iterable of float32 arrays shaped like one input batch of 1,
            preprocessed exactly as in training (see `zoo.training.data`). Never random data.
    Raises:
        ValueError: unknown mode or missing calibration data. ConversionError: the converter failed.
    """
    if mode not in MODES:
        raise ValueError(f"unknown quantization mode {mode!r}; choose from {', '.join(MODES)}")
    if mode in INT8_MODES and representative_data is None:
        raise ValueError(f"{mode} needs representative_data: calibration images from the training set")
    # The trackable root only has to own the variables; passing the Keras model itself makes the converter
    # save and retrace every layer (80 s instead of 14 s for a small EfficientUNet++, same bytes out).
    root = tf.Module()
    root.variables_to_convert = list(model.variables)
    conv = tf.lite.TFLiteConverter.from_concrete_functions([batch1_function(model)], root)
    if mode != "fp32":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "float16":
        conv.target_spec.supported_types = [tf.float16]
    if mode in INT8_MODES:
        samples = list(representative_data)
        conv.representative_dataset = lambda: ([np.asarray(s, np.float32)] for s in samples)
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    try:
        return conv.convert()
    except Exception as e:  # the converter raises many types; all become one line
        raise ConversionError(f"{model.name} -> {mode}: {_one_line_reason(e)}") from None


class LiteRTModel:
    """A `.tflite` model in the LiteRT interpreter that takes and returns float arrays (batch 1).

    int8 inputs are quantized with the model's own scale and zero point, int8 outputs dequantized.
    """

    def __init__(self, model_bytes: bytes, num_threads: int = 2, op_resolver=None):
        from ai_edge_litert.interpreter import Interpreter

        self.num_threads = num_threads
        extra = {} if op_resolver is None else {"experimental_op_resolver_type": op_resolver}
        self.interpreter = Interpreter(model_content=model_bytes, num_threads=num_threads, **extra)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]

    def quantize_input(self, x: np.ndarray) -> np.ndarray:
        d = self.input
        if d["dtype"] in (np.int8, np.uint8):
            scale, zero = d["quantization"]
            info = np.iinfo(d["dtype"])
            return np.clip(np.round(x / scale + zero), info.min, info.max).astype(d["dtype"])
        return x.astype(d["dtype"])

    def dequantize_output(self, y: np.ndarray) -> np.ndarray:
        d = self.output
        if d["dtype"] in (np.int8, np.uint8):
            scale, zero = d["quantization"]
            return (y.astype(np.float32) - zero) * scale
        return y.astype(np.float32)

    def invoke_raw(self, x_quantized: np.ndarray) -> np.ndarray:
        self.interpreter.set_tensor(self.input["index"], x_quantized)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output["index"])

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Run a (1, H, W, C) float image; returns float (1, H, W, K)."""
        return self.dequantize_output(self.invoke_raw(self.quantize_input(x)))

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Run a stack of images one at a time (the model is batch 1)."""
        return np.concatenate([self(images[i:i + 1]) for i in range(len(images))])


def list_ops(model_bytes: bytes) -> list[dict]:
    """The model's operators in execution order (name, input and output tensor details), without delegates.

    Each tensor dict gains `constant`: True for weights and biases (neither a graph input nor an op output).
    `_get_ops_details` is private but is the only LiteRT call that lists operators in order.
    """
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interp = Interpreter(model_content=model_bytes,
                         experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interp.allocate_tensors()
    tensors = {t["index"]: t for t in interp.get_tensor_details()}
    ops = interp._get_ops_details()
    live = {i for op in ops for i in op["outputs"]} | {d["index"] for d in interp.get_input_details()}
    for i, t in tensors.items():
        t["constant"] = i not in live
    return [{"index": op["index"], "op": op["op_name"],
             "inputs": [tensors[i] for i in op["inputs"] if i >= 0],
             "outputs": [tensors[i] for i in op["outputs"]]} for op in ops]
