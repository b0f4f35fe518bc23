"""Receptive field and alignment of a fully convolutional model, and the tile model: the same Keras model or
INT8 flatbuffer for another input size.

`receptive_field` reads them from the Keras graph; `impulse_receptive_field` measures them by pushing
impulses through an all-ones copy of the model. `resize_tflite` rewrites the activation shapes of a
converted model, so the tile model keeps the whole-image model's weights, scales and zero points.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

# Layers that act pixel by pixel or merge same-resolution tensors: they keep the receptive field.
_POINTWISE = {"InputLayer", "Activation", "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax", "BatchNormalization",
              "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dropout",
              "SpatialDropout2D", "GaussianNoise", "GaussianDropout", "QuantizeLayer", "ActivityRegularization"}
# TFLite ops whose attributes do not depend on the spatial size (their tensors' shapes are rewritten).
_RESIZABLE_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D", "AVERAGE_POOL_2D", "ADD", "SUB", "MUL",
                  "CONCATENATION", "LOGISTIC", "RELU", "RELU6", "RELU_N1_TO_1", "LEAKY_RELU", "TANH", "HARD_SWISH",
                  "QUANTIZE", "DEQUANTIZE", "MAXIMUM", "MINIMUM", "PRELU", "RESIZE_NEAREST_NEIGHBOR"}


@dataclasses.dataclass(frozen=True)
class ReceptiveField:
    """Output pixel p depends on input pixels p+lo .. p+hi (both axes); tile origins must be multiples of `alignment`."""

    lo: int
    hi: int
    alignment: int

    @property
    def size(self) -> int:
        return self.hi - self.lo + 1

    @property
    def exact_halo(self) -> int:
        """Smallest halo (a multiple of the alignment) that covers the receptive field on both sides."""
        return round_up(max(-self.lo, self.hi), self.alignment)


def round_up(value: int, multiple: int) -> int:
    return -(-int(value) // multiple) * multiple


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if np.isscalar(v) else (int(v[0]), int(v[1]))


def _same_offsets(kernel: int, stride: int) -> tuple[int, int]:
    """Input offsets (first, last) a 'same'-padded window reads, for inputs divisible by the stride (TF's rule)."""
    pad_before = max(kernel - stride, 0) // 2
    return -pad_before, kernel - 1 - pad_before


def receptive_field(model) -> ReceptiveField:
    """Receptive field and pooling alignment of a flat functional Keras model, read from its layers.

    Each tensor carries (J, lo, hi): its pixel i sits at input position J*i and depends on input
    pixels J*i+lo .. J*i+hi. Convs widen (lo, hi) by their 'same' window times J, poolings multiply
    J, nearest upsampling divides J and may look one coarse pixel back, merges take the union.
    Raises ValueError naming the layer for anything that is not translation-equivariant
    ('valid' convs, global pooling, dense layers, unknown layers).
    """
    state: dict[str, tuple[int, int, int]] = {}
    for layer in model.layers:
        kind = layer.__class__.__name__
        inbound = layer.inbound_nodes[0].inbound_layers if layer.inbound_nodes else []
        inbound = inbound if isinstance(inbound, (list, tuple)) else [inbound]
        ins = [state[i.name] for i in inbound]
        if kind == "InputLayer" or not ins:
            state[layer.name] = (1, 0, 0)
            continue
        if len({j for j, _, _ in ins}) > 1:
            raise ValueError(f"layer {layer.name!r} merges tensors of different resolutions")
        j, lo, hi = ins[0][0], min(s[1] for s in ins), max(s[2] for s in ins)
        if kind in _POINTWISE:
            state[layer.name] = (j, lo, hi)
        elif kind in ("Conv2D", "DepthwiseConv2D", "SeparableConv2D"):
            (k, _), (s, _), (d, _) = (_pair(layer.kernel_size), _pair(layer.strides), _pair(layer.dilation_rate))
            if layer.padding != "same" and k > 1:
                raise ValueError(f"layer {layer.name!r}: tiling needs 'same' padding, not {layer.padding!r}")
            first, last = _same_offsets(d * (k - 1) + 1, s)
            state[layer.name] = (j * s, lo + j * first, hi + j * last)
        elif kind in ("MaxPooling2D", "AveragePooling2D"):
            (p, _), (s, _) = _pair(layer.pool_size), _pair(layer.strides)
            first, last = (0, p - 1) if layer.padding == "valid" else _same_offsets(p, s)
            state[layer.name] = (j * s, lo + j * first, hi + j * last)
        elif "UpSampling2D" in {c.__name__ for c in type(layer).__mro__} and layer.interpolation == "nearest":
            u, _ = _pair(layer.size)
            if j % u:
                raise ValueError(f"layer {layer.name!r} upsamples above the input resolution")
            state[layer.name] = (j // u, lo - (j // u) * (u - 1), hi)  # pixel i reads coarse pixel floor(i / u)
        else:
            raise ValueError(f"layer {layer.name!r} ({kind}) is not a local, translation-equivariant layer; "
                             "its output cannot be tiled exactly")
    j, lo, hi = state[model.layers[-1].name]
    if j != 1:
        raise ValueError(f"{model.name}: output is not at input resolution (stride {j})")
    alignment = math.lcm(*(s[0] for s in state.values()))
    return ReceptiveField(lo, hi, alignment)


def resized_keras_model(model, size: tuple[int, int], weights: bool = True):
    """The same functional model (same weights; freshly initialised ones with `weights=False`, enough for
    shapes and MAC counts) rebuilt for a (height, width) input."""
    import tf_keras as keras

    config = model.get_config()
    for layer in config["layers"]:
        if layer["class_name"] == "InputLayer":
            shape = list(layer["config"]["batch_input_shape"])
            layer["config"]["batch_input_shape"] = [shape[0], size[0], size[1], *shape[3:]]
    clone = keras.Model.from_config(config)
    if weights:
        clone.set_weights(model.get_weights())
    return clone


def impulse_receptive_field(model, start_size: int = 64, max_size: int = 1024) -> ReceptiveField:
    """Measure the receptive field by impulses through an all-ones copy of `model` (graph-independent check).

    Kernels are set to 1, biases and BatchNorm shifts to 0, so a zero image gives exactly 0 everywhere
    and an impulse reaches every output that depends on it with a positive value: no cancellation,
    no ReLU or max-pool masking. Impulses at every phase of the alignment give lo and hi; the image
    is doubled until the response stays clear of its border. The alignment is the smallest shift
    under which the response moves with the impulse.
    """
    rf = receptive_field(model)  # only for the alignment candidates and the phases to probe
    size = round_up(start_size, rf.alignment)
    while size <= max_size:
        probe = resized_keras_model(model, (size, size))
        probe.set_weights([_probe_value(w.name, v) for w, v in zip(probe.weights, probe.get_weights())])
        c = round_up(size // 2, rf.alignment)
        x = np.zeros((rf.alignment, size, size, model.input_shape[-1]), np.float32)
        for k in range(rf.alignment):
            x[k, c + k, c + k, :] = 1.0
        base = probe.predict(np.zeros_like(x[:1]), verbose=0)[0, ..., 0]
        out = probe.predict(x, verbose=0)[..., 0]
        lo, hi, touches = 0, 0, False
        for k in range(rf.alignment):
            rows = np.nonzero((out[k] != base).any(axis=1))[0]
            cols = np.nonzero((out[k] != base).any(axis=0))[0]
            q = c + k
            touches |= rows[0] == 0 or cols[0] == 0 or rows[-1] == size - 1 or cols[-1] == size - 1
            lo = min(lo, q - rows[-1], q - cols[-1])
            hi = max(hi, q - rows[0], q - cols[0])
        if not touches:
            return ReceptiveField(int(lo), int(hi), _measured_alignment(resized_keras_model(model, (size, size)),
                                                                       rf.alignment))
        size *= 2
    raise ValueError(f"{model.name}: receptive field wider than {max_size} pixels")


def _probe_value(name: str, value: np.ndarray) -> np.ndarray:
    if any(k in name for k in ("kernel", "gamma", "moving_variance")):
        return np.ones_like(value)
    return np.zeros_like(value)  # bias, beta, moving_mean


def _measured_alignment(model, graph_alignment: int) -> int:
    """Smallest shift s (a divisor of the graph's alignment) with f(shift_s(x)) == shift_s(f(x)) away from
    the border, on random data through the model's own (random or trained) weights."""
    size = model.input_shape[1]
    x = np.random.default_rng(0).random((1, size, size, model.input_shape[-1]), dtype=np.float32)
    ref = model.predict(x, verbose=0)
    margin = size // 4
    for s in sorted(d for d in range(1, graph_alignment + 1) if graph_alignment % d == 0):
        shifted = model.predict(np.roll(x, s, axis=(1, 2)), verbose=0)
        if np.abs(ref[:, margin:-margin, margin:-margin] - shifted[:, margin + s:-margin + s, margin + s:-margin + s]).max() < 1e-5:
            return s
    return graph_alignment


# ---------------------------------------------------------------------------------------------------
# The tile model: the whole-image INT8 flatbuffer with its activation shapes rewritten.

def resize_tflite(model_bytes: bytes, size: tuple[int, int]) -> bytes:
    """The same TFLite model for a (height, width) input: every activation shape and every nearest-resize
    target is rescaled; weights, scales and zero points stay byte-identical.

    No library re-shapes a converted model (LiteRT's resize_tensor_input keeps RESIZE's constant target
    and TFLM has no dynamic shapes), so the flatbuffer is edited here with LiteRT's own schema objects.
    Raises ValueError when the model has an op whose attributes depend on the image size.
    """
    from ai_edge_litert.tools import flatbuffer_utils as fb

    from deploy.convert import pack_model

    m = fb.read_model_from_bytearray(bytearray(model_bytes))
    g = m.subgraphs[0]
    h0, w0 = (int(v) for v in g.tensors[g.inputs[0]].shape[1:3])
    th, tw = size

    def scale(n, full, tile, what):
        if (n * tile) % full:
            raise ValueError(f"tile {tile} does not divide evenly at a tensor of {what} {n} (image {full}); "
                             "use a multiple of the model's alignment")
        return n * tile // full

    for op in g.operators:
        name = fb.opcode_to_name(m, op.opcodeIndex)
        if name not in _RESIZABLE_OPS:
            raise ValueError(f"op {name} cannot be resized for tiling")
        if name == "RESIZE_NEAREST_NEIGHBOR":
            out = g.tensors[op.outputs[0]]
            target = m.buffers[g.tensors[op.inputs[1]].buffer]
            hw = np.array([scale(int(out.shape[1]), h0, th, "height"), scale(int(out.shape[2]), w0, tw, "width")],
                          np.int32)
            target.data = np.frombuffer(hw.tobytes(), np.uint8).copy()
    for t in g.tensors:
        data = m.buffers[t.buffer].data if t.buffer < len(m.buffers) else None
        if t.shape is None or len(t.shape) != 4 or (data is not None and len(data)):
            continue  # weights and biases keep their shapes
        t.shape = [t.shape[0], scale(int(t.shape[1]), h0, th, "height"), scale(int(t.shape[2]), w0, tw, "width"),
                   t.shape[3]]
        if t.shapeSignature is not None and len(t.shapeSignature):
            t.shapeSignature = list(t.shape)
    return pack_model(m)  # weight buffers 16-byte aligned, as the converter writes them
