"""Keras -> TFLite conversion in a closed set of modes, and a LiteRT runner that hides int8 I/O.

Modes (the table `deploy.formats.MODES`): `fp32`, `float16` (float16 weights), `dynamic` (int8 weights,
float activations), `int8` (full integer with a representative dataset, int8 input and output) and `qat`
(a model trained with fake-quant wrappers, converted to full integer with int8 input and output). Every
model is exported at batch 1 with static shapes, as microcontrollers and the Edge TPU need.

`strip` removes what no runtime reads (tensor names, signatures, metadata) and writes each distinct vector once;
`strip(..., micro=True)` also drops the conv bias quantization that only LiteRT's XNNPACK delegate reads, for the
C array TFLite-Micro runs.
"""
from __future__ import annotations

import contextlib
import functools
import re
import threading
from concurrent.futures import Future

import numpy as np
import tensorflow as tf

from deploy import calibration, formats

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


def to_tflite(model, mode: str, representative_data=None, *, calibration_workers: int | None = None,
              on_calibration=None) -> bytes:
    """Convert a Keras model to a TFLite flatbuffer.

    Args:
        model: a tf_keras model (for `qat`, one returned by `tfmot.quantization.keras.quantize_model`).
        mode: one of `MODES`.
        representative_data: for `int8` and `qat` (the converter insists on it for int8 I/O), an iterable of float32 arrays shaped like one input batch of 1,
            preprocessed exactly as in training (see `zoo.training.data`). Never random data.
        calibration_workers: calibrate `int8` in this many child processes (`deploy.calibration`: the same
            statistics, computed by LiteRT's build of the calibrator) instead of in this process; None: in this
            process.
        on_calibration: called (no arguments) when the converter starts reading `representative_data`.
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

        def dataset():
            if on_calibration is not None:
                on_calibration()
            for sample in samples:
                yield [np.asarray(sample, np.float32)]

        conv.representative_dataset = dataset
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    workers = calibration.parallel_calibration(calibration_workers) if calibration_workers else contextlib.nullcontext()
    try:
        with workers:
            return conv.convert()
    except Exception as e:  # the converter raises many types; all become one line
        raise ConversionError(f"{model.name} -> {mode}: {_one_line_reason(e)}") from None


def start_tflite(model, mode: str, representative_data, calibration_workers: int = 2) -> Future:
    """`to_tflite(model, mode, representative_data, calibration_workers=...)` in a background thread; returns its
    Future (bytes, or the ConversionError) once the converter has started calibrating.

    By then the Keras tracing and graph conversion (Python, holding the interpreter lock) are done; what is left
    is the calibration in child processes and the quantization, so the caller's next steps (e.g. QAT
    fine-tuning) run meanwhile. The caller must not change `model` until the Future is done."""
    future, calibrating = Future(), threading.Event()

    def work():
        try:
            future.set_result(to_tflite(model, mode, representative_data, calibration_workers=calibration_workers,
                                        on_calibration=calibrating.set))
        except BaseException as e:  # noqa: BLE001 - handed to whoever asks for the result
            future.set_exception(e)
        finally:
            calibrating.set()

    threading.Thread(target=work, name=f"convert {mode}", daemon=True).start()
    calibrating.wait()
    return future


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


# Ops whose int32 bias quantization TFLite-Micro never reads: its int8 kernels derive the bias scale from the input
# and filter scales (PopulateConvolutionQuantizationParams). Fully connected layers do check it, so they keep it.
_MICRO_BIAS_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D")


def strip(model_bytes: bytes, micro: bool = False) -> bytes:
    """The same model without what no runtime reads, for flash: tensor and subgraph names, the description, the
    signature defs, the metadata buffers, shape signatures equal to the shapes (static models only) and the
    has-rank flag of tensors with a shape. Every distinct vector and table of scalars (shapes, zero points, conv
    options) is written once and referenced again, and weights stay 16-byte aligned. Weights, scales, zero points
    and the op graph are unchanged, so LiteRT and TFLite-Micro give identical outputs (tested).

    `micro=True` (the C array for TFLite-Micro) also drops the quantization parameters of CONV_2D and
    DEPTHWISE_CONV_2D int32 biases, which TFLite-Micro never reads; LiteRT's reference kernels ignore them too,
    but its XNNPACK delegate then leaves those convs to the built-in kernels, so keep `micro=False` for LiteRT.
    """
    from ai_edge_litert.tools import flatbuffer_utils as fb

    m = fb.read_model_from_bytearray(bytearray(model_bytes))
    fb.strip_strings(m)  # description, subgraph and tensor names, signature defs
    m.metadata = None  # min_runtime_version and CONVERSION_METADATA: read by tools, not by the interpreters
    for g in m.subgraphs:
        for t in g.tensors:
            signature = t.shapeSignature
            if signature is not None and len(signature) and t.shape is not None and \
                    [int(v) for v in signature] == [int(v) for v in t.shape]:
                t.shapeSignature = None
            if t.shape is not None and len(t.shape):
                t.hasRank = False  # only tells a scalar from an unknown rank when the shape is empty
        if micro:
            for op in g.operators:
                if fb.opcode_to_name(m, op.opcodeIndex) in _MICRO_BIAS_OPS and len(op.inputs) > 2 and op.inputs[2] >= 0:
                    bias = g.tensors[op.inputs[2]]
                    if fb.type_to_name(bias.type) == "INT32":
                        bias.quantization = None
    return pack_model(m)


def pack_model(model) -> bytes:
    """Serialise a LiteRT schema object (`flatbuffer_utils.read_model_from_bytearray`) with shared vectors and
    16-byte aligned weight buffers (`_sharing_builder_class`)."""
    builder = _sharing_builder_class()(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


@functools.cache
def _sharing_builder_class():
    import flatbuffers

    class SharingBuilder(flatbuffers.Builder):
        """A flatbuffers Builder that writes each distinct vector of scalars and each distinct table of scalars once
        and points later copies at it (flatbuffers allows shared objects, as C++'s CreateSharedString does for
        strings), and aligns uint8 arrays (weight buffers) to 16 bytes as the converter does. Objects holding
        offsets are never shared: their values are relative to where they are written."""

        def __init__(self, size):
            super().__init__(size)
            self._seen, self._start, self._numpy, self._offsets = {}, None, False, False

        def CreateNumpyVector(self, x):
            self._numpy = True
            try:
                return super().CreateNumpyVector(x)
            finally:
                self._numpy = False

        def StartVector(self, elemSize, numElems, alignment):
            if self._numpy and elemSize == 1:
                alignment = max(alignment, 16)
            self._start, self._offsets = (self.Offset(), elemSize * numElems, alignment), False
            return super().StartVector(elemSize, numElems, alignment)

        def StartObject(self, numfields):
            self._start, self._offsets = (self.Offset(), None, len(self.vtables)), False
            return super().StartObject(numfields)

        def PrependUOffsetTRelative(self, off):
            self._offsets = True
            return super().PrependUOffsetTRelative(off)

        def _share(self, start, end, key):
            if key in self._seen:
                self.head = len(self.Bytes) - start  # drop the copy (and its padding), point at the first one
                return self._seen[key]
            self._seen[key] = end
            return end

        def EndVector(self, *args):
            start, self._start = self._start, None
            end = super().EndVector(*args)
            if start is None or self._offsets:  # strings, byte vectors, vectors of tables: written as they are
                return end
            before, size, alignment = start
            return self._share(before, end, ("vector", alignment, bytes(self.Bytes[self.head:self.head + 4 + size])))

        def EndObject(self):
            start, self._start = self._start, None
            end = super().EndObject()
            if start is None or self._offsets or len(self.vtables) != start[2]:  # holds offsets, or wrote a vtable
                return end
            vtable = end + int.from_bytes(self.Bytes[self.head:self.head + 4], "little", signed=True)
            return self._share(start[0], end, ("table", vtable, bytes(self.Bytes[self.head + 4:self.head + end - start[0]])))

    return SharingBuilder


def list_ops(model_bytes: bytes) -> list[dict]:
    """The model's operators in execution order (name, input and output tensor details), without delegates.

    Each tensor dict gains `constant`: True for weights and biases (neither a graph input nor an op output).
    `_get_ops_details` is private but is the only LiteRT call that lists operators in order. Each op also has
    `version` (its operator code's version) and `options` (its builtin options as a dict, e.g.
    `{"alignCorners": False, "halfPixelCenters": True}` for a resize; empty when it has none), read from the
    flatbuffer, whose first subgraph lists the operators in the same order.
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
    versions, options = _op_versions_and_options(model_bytes)
    return [{"index": op["index"], "op": op["op_name"],
             "version": versions[op["index"]], "options": options[op["index"]],
             "inputs": [tensors[i] for i in op["inputs"] if i >= 0],
             "outputs": [tensors[i] for i in op["outputs"]]} for op in ops]


def _op_versions_and_options(model_bytes: bytes) -> tuple[list[int], list[dict]]:
    """Per operator of the main subgraph: its operator code's version and its builtin options as a dict."""
    from ai_edge_litert.tools import flatbuffer_utils as fb

    m = fb.read_model_from_bytearray(bytearray(model_bytes))
    versions, options = [], []
    for op in m.subgraphs[0].operators:
        versions.append(int(m.operatorCodes[op.opcodeIndex].version))
        o = op.builtinOptions
        options.append({k: v for k, v in vars(o).items() if isinstance(v, (bool, int, float, str))} if o is not None else {})
    return versions, options
