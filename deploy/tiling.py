"""Tiled inference: run a full-resolution image through a small-tile INT8 model in a microcontroller's RAM.

A fully convolutional model's output pixel p depends only on input pixels p+lo .. p+hi (its receptive
field), and its poolings make it equivariant to shifts by multiples of its total stride (the alignment).
So a tile whose origin is a multiple of the alignment and that reaches `halo` pixels beyond its core
produces, in that core, exactly what the whole image would. Two details make it exact, not approximate:

- **Image border**: every conv zero-pads its *own* input. Near the image border the whole-image model
  pads inner feature maps with zeros, while a tile zero-padded at its input would see conv(0) + bias
  there instead. Tiles are therefore never padded: border tiles are shifted inwards so that their
  edge *is* the image edge, where tile and image pad the same feature maps identically.
- **Quantization**: the tile model is the whole-image INT8 flatbuffer with its activation shapes
  rewritten (`resize_tflite`), so weights, scales and zero points are identical; recalibrating a
  tile-sized model would give slightly different scales.

`receptive_field` reads lo, hi and the alignment from the Keras graph; `impulse_receptive_field`
measures them by pushing impulses through an all-ones copy of the model. With the exact halo the
stitched output is bit-identical to the whole image's; a smaller halo (approximate mode) trades a
measured share of disagreeing pixels for less RAM and compute.
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from deploy import tflm
from zoo.files import atomic_path, atomic_write_bytes, atomic_write_text

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
        elif kind == "UpSampling2D" and layer.interpolation == "nearest":
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


def resized_keras_model(model, size: tuple[int, int]):
    """The same functional model (same weights) rebuilt for a (height, width) input."""
    import tf_keras as keras

    config = model.get_config()
    for layer in config["layers"]:
        if layer["class_name"] == "InputLayer":
            shape = list(layer["config"]["batch_input_shape"])
            layer["config"]["batch_input_shape"] = [shape[0], size[0], size[1], *shape[3:]]
    clone = keras.Model.from_config(config)
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
    return bytes(fb.convert_object_to_bytearray(m))


# ---------------------------------------------------------------------------------------------------
# Tile placement and stitching.

@dataclasses.dataclass(frozen=True)
class AxisTiles:
    """Tiles along one axis: tile i reads input [starts[i], starts[i] + tile) and keeps output [core_starts[i], core_ends[i])."""

    starts: tuple
    core_starts: tuple
    core_ends: tuple


@dataclasses.dataclass(frozen=True)
class TilePlan:
    """Where every tile of an image goes. `tile` is the exported model's input side (core + 2 x halo)."""

    image: tuple  # (height, width), multiples of the alignment
    tile: int
    halo: int
    alignment: int
    rows: AxisTiles
    cols: AxisTiles

    @property
    def core(self) -> int:
        return self.tile - 2 * self.halo

    @property
    def tiles(self) -> int:
        return len(self.rows.starts) * len(self.cols.starts)

    @property
    def overhead(self) -> float:
        """Extra compute of the halos: pixels run through the model / image pixels - 1."""
        return self.tiles * self.tile ** 2 / (self.image[0] * self.image[1]) - 1

    def as_dict(self) -> dict:
        return {"image": list(self.image), "tile_input": self.tile, "core": self.core, "halo": self.halo,
                "alignment": self.alignment, "tiles": self.tiles, "tiles_y": len(self.rows.starts),
                "tiles_x": len(self.cols.starts), "halo_compute_overhead": round(self.overhead, 4)}


def _axis_tiles(length: int, tile: int, halo: int, border: str) -> AxisTiles:
    core = tile - 2 * halo
    starts, core_starts, core_ends = [], [], []
    for c0 in range(0, length, core):
        c1 = min(c0 + core, length)
        s = c0 - halo if border == "pad" else min(max(c0 - halo, 0), length - tile)
        starts.append(s), core_starts.append(c0), core_ends.append(c1)
    return AxisTiles(tuple(starts), tuple(core_starts), tuple(core_ends))


def plan_tiles(image_hw: tuple[int, int], tile: int, halo: int, alignment: int, border: str = "shift") -> TilePlan:
    """Place square tiles of input side `tile` over an image so that their cores cover it once.

    Cores are `tile - 2*halo` wide and laid edge to edge from the top-left; each tile reaches `halo`
    pixels beyond its core, except at the image border, where it is shifted inwards to end exactly at
    the border (so it sees the real border, not zero padding). Every start is a multiple of `alignment`.
    `border="pad"` is the naive placement instead (tiles reach past the border into zero input), kept
    to measure what it costs.
    """
    if border not in ("shift", "pad"):
        raise ValueError(f"border must be 'shift' or 'pad', got {border!r}")
    h, w = image_hw
    for what, v in (("tile", tile), ("halo", halo), ("image height", h), ("image width", w)):
        if v % alignment:
            raise ValueError(f"{what} {v} is not a multiple of the model's alignment {alignment}")
    if tile - 2 * halo < alignment:
        raise ValueError(f"tile {tile} leaves no core with halo {halo}: needs at least {2 * halo + alignment}")
    if tile > min(h, w):
        raise ValueError(f"tile {tile} is larger than the image {h}x{w}; run the whole-image model instead")
    return TilePlan((h, w), tile, halo, alignment, _axis_tiles(h, tile, halo, border),
                    _axis_tiles(w, tile, halo, border))


def run_tiled(invoke_raw, x: np.ndarray, plan: TilePlan, pad_value=0) -> np.ndarray:
    """Stitch the cores of every tile: `invoke_raw` maps a (1, tile, tile, C) array to (1, tile, tile, K).

    `x` is one (H, W, C) image, already quantized for an int8 model (quantization is per pixel, so
    quantizing the whole image then cutting tiles equals cutting then quantizing). `pad_value` fills
    the input beyond the border, used only by `border="pad"` plans (the input zero point for int8).
    """
    p = plan.tile
    x = np.pad(x, ((p, p), (p, p), (0, 0)), constant_values=pad_value)
    out = None
    for ys, y0, y1 in zip(plan.rows.starts, plan.rows.core_starts, plan.rows.core_ends):
        for xs, x0, x1 in zip(plan.cols.starts, plan.cols.core_starts, plan.cols.core_ends):
            y = invoke_raw(np.ascontiguousarray(x[None, p + ys:p + ys + p, p + xs:p + xs + p]))[0]
            if out is None:
                out = np.zeros((*plan.image, y.shape[-1]), y.dtype)
            out[y0:y1, x0:x1] = y[y0 - ys:y1 - ys, x0 - xs:x1 - xs]
    return out


class TFLMRunner:
    """One TFLite-Micro interpreter kept alive across tiles, as firmware does (`invoke_raw` like LiteRTModel's)."""

    def __init__(self, model_bytes: bytes, arena_size: int):
        self.interpreter = tflm._tflm(model_bytes, arena_size)

    def invoke_raw(self, x_quantized: np.ndarray) -> np.ndarray:
        self.interpreter.set_input(x_quantized, 0)
        self.interpreter.invoke()
        return self.interpreter.get_output(0)


# ---------------------------------------------------------------------------------------------------
# RAM budget: arena against tile size.

def arena_curve(model_bytes: bytes, tiles) -> list[tuple[int, int]]:
    """(tile input side, smallest TFLM arena in bytes) for each tile side."""
    return [(t, tflm.smallest_arena(resize_tflite(model_bytes, (t, t)))) for t in tiles]


def largest_fitting_tile(model_bytes: bytes, ram: int, smallest: int, largest: int, alignment: int) -> int | None:
    """Largest tile side (a multiple of `alignment` in [smallest, largest]) whose TFLM arena fits `ram` bytes,
    by bisection (the arena grows with the tile). None when even `smallest` does not fit."""
    candidates = list(range(smallest, largest + 1, alignment))
    lo, hi = -1, len(candidates)  # candidates[lo] fits, candidates[hi] does not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if tflm.fits(resize_tflite(model_bytes, (candidates[mid],) * 2), ram):
            lo = mid
        else:
            hi = mid
    return candidates[lo] if lo >= 0 else None


# ---------------------------------------------------------------------------------------------------
# One call for the deployment pipeline: choose the tile, prove agreement, write the firmware hand-off.

AGREEMENT_TARGET = 0.999  # share of mask pixels the approximate mode must reproduce
DICE_TARGET_POINTS = 0.1  # and the largest Dice change it may cause (when masks are given)


def _binary(raw: np.ndarray, runner) -> np.ndarray:
    return runner.dequantize_output(raw) > 0.5


def measure_tiling(whole_raw: list, tile_runner, x_quantized: list, plan: TilePlan, truth=None, pad_value=0) -> dict:
    """Agreement of tiled with whole-image int8 outputs over images: identical raw outputs, equal masks
    (threshold 0.5) and, with `truth` (N, H, W, 1), pooled Dice of both in points."""
    from zoo.training.metrics import evaluate_masks

    tiled = [run_tiled(tile_runner.invoke_raw, xq, plan, pad_value) for xq in x_quantized]
    whole = [w.reshape(t.shape) for w, t in zip(whole_raw, tiled)]
    same = np.mean([np.mean(t == w) for t, w in zip(tiled, whole)])
    masks = [(_binary(t, tile_runner), _binary(w, tile_runner)) for t, w in zip(tiled, whole)]
    result = {"identical_outputs": float(same), "mask_agreement": float(np.mean([np.mean(a == b) for a, b in masks])),
              "max_step_difference": int(max(np.abs(t.astype(np.int32) - w).max() for t, w in zip(tiled, whole)))}
    if truth is not None:
        dice = [evaluate_masks(truth, np.stack([m[k] for m in masks]).astype(np.float32))["pooled_f1"] for k in (0, 1)]
        result |= {"dice_tiled": round(100 * dice[0], 3), "dice_whole": round(100 * dice[1], 3),
                   "dice_change_points": round(100 * (dice[0] - dice[1]), 3)}
    return result


def tile_deployment(keras_model, model_bytes: bytes, x_eval: np.ndarray, y_eval=None, out_dir=None, *, mcu_ram: int,
                    halo="auto", threads: int = 2, log=print) -> dict:
    """Choose and prove a tiling of an INT8 whole-image model for `mcu_ram` bytes of tensor arena.

    The tile is the largest whose measured TFLM arena fits. `halo`: "exact" (the receptive field's,
    bit-identical output), a number of pixels (approximate), or "auto" (exact when such a tile fits,
    else the smallest halo whose masks agree with the whole image's on >= 99.9 % of the eval pixels and
    whose Dice is within 0.1 point).
    Agreement and Dice come from LiteRT on every eval image, and TFLite-Micro reruns the first one.
    With `out_dir`, writes the tile model, `firmware/` (C array, tiling_config.h, tiled_inference.cc)
    and `tiling.png`. Returns the report's "tiling" section.
    """
    from deploy.convert import LiteRTModel

    rf = receptive_field(keras_model)
    a, exact = rf.alignment, rf.exact_halo
    whole = LiteRTModel(model_bytes, num_threads=threads)
    h, w = (int(v) for v in whole.input["shape"][1:3])
    report = {"mcu_ram": mcu_ram, "receptive_field": rf.size, "receptive_lo_hi": [rf.lo, rf.hi], "alignment": a,
              "exact_halo": exact, "whole_image_arena": tflm.smallest_arena(model_bytes), "flash_bytes": len(model_bytes)}
    side = largest_fitting_tile(model_bytes, mcu_ram, a, min(h, w), a)
    report["largest_fitting_tile"] = side
    if side is None or side < 3 * a:
        report["error"] = f"no tile fits {mcu_ram} B of arena (tile {3 * a} needs more)"
        return report
    report["exact_fits"] = side >= 2 * exact + a
    if halo == "exact" and not report["exact_fits"]:
        raise ValueError(f"--tile-halo exact: the exact halo {exact} needs a tile of {2 * exact + a} px, "
                         f"but only {side} px fits {mcu_ram} B of arena; use --tile-halo auto or a bigger --mcu-ram")
    xq = [whole.quantize_input(x[None])[0] for x in x_eval]
    whole_raw = [whole.invoke_raw(q[None])[0] for q in xq]
    tile_bytes = resize_tflite(model_bytes, (side, side))
    tile_runner = LiteRTModel(tile_bytes, num_threads=threads)
    if halo == "auto" and report["exact_fits"] or halo == "exact":
        chosen = exact
    elif halo == "auto":
        report["halo_scan"] = []
        for chosen in range(a, (side - a) // 2 // a * a + 1, a):  # smallest halo that reaches the target
            m = measure_tiling(whole_raw, tile_runner, xq, plan_tiles((h, w), side, chosen, a), y_eval)
            report["halo_scan"].append({"halo": chosen, "mask_agreement": m["mask_agreement"],
                                        "dice_change_points": m.get("dice_change_points")})
            log(f"tiling: halo {chosen}: masks agree on {m['mask_agreement']:.4%} of pixels")
            if m["mask_agreement"] >= AGREEMENT_TARGET and abs(m.get("dice_change_points", 0)) <= DICE_TARGET_POINTS:
                break
    else:
        chosen = int(halo)
    plan = plan_tiles((h, w), side, chosen, a)
    arena = tflm.smallest_arena(tile_bytes)
    report |= {"mode": "exact" if chosen >= exact else "approximate", "tile_arena": arena,
               "tile_flash_bytes": len(tile_bytes), **plan.as_dict()}
    report["litert"] = measure_tiling(whole_raw, tile_runner, xq, plan, y_eval)
    micro = TFLMRunner(tile_bytes, arena)
    ref = LiteRTModel(tile_bytes, op_resolver=_ref_resolver())
    on_mcu = run_tiled(micro.invoke_raw, xq[0], plan)
    report["tflm_first_image"] = {
        "identical_to_litert_reference_tiles": bool(np.array_equal(on_mcu, run_tiled(ref.invoke_raw, xq[0], plan))),
        "identical_to_whole_image": float(np.mean(on_mcu == tflm.run(model_bytes, xq[0][None], report["whole_image_arena"])
                                                  .reshape(on_mcu.shape)))}
    log(f"tiling: {plan.tiles} tiles of {side}x{side} (halo {chosen}, {report['mode']}), arena {arena} B, "
        f"masks agree on {report['litert']['mask_agreement']:.4%}")
    if out_dir is not None:
        out_dir = Path(out_dir)
        stem = f"{keras_model.name}_{h}x{w}_tile{side}"
        atomic_write_bytes(out_dir / f"{stem}_int8.tflite", tile_bytes)
        report["tile_model"] = f"{stem}_int8.tflite"
        report["firmware"] = [p.name for p in write_firmware(out_dir / "firmware", tile_bytes, plan, arena, whole)]
        tiles = sorted({*range(a, min(h, w) + 1, max(a, round_up(min(h, w) // 8, a))), side, 2 * exact + a})
        curve = arena_curve(model_bytes, [t for t in tiles if t <= min(h, w)])
        report["arena_curve"] = curve
        plot_arena({keras_model.name: {"curve": curve, "chosen": side, "exact_min": 2 * exact + a}}, mcu_ram,
                   out_dir / "tiling.png")
    return report


def _ref_resolver():
    from ai_edge_litert.interpreter import OpResolverType

    return OpResolverType.BUILTIN_REF


# ---------------------------------------------------------------------------------------------------
# Firmware hand-off and the arena plot.

FIRMWARE_TEMPLATE = Path(__file__).with_name("firmware") / "tiled_inference.cc"
_TFLM_ADD = {"CONV_2D": "Conv2D", "DEPTHWISE_CONV_2D": "DepthwiseConv2D", "MAX_POOL_2D": "MaxPool2D",
             "AVERAGE_POOL_2D": "AveragePool2D", "ADD": "Add", "SUB": "Sub", "MUL": "Mul",
             "CONCATENATION": "Concatenation", "LOGISTIC": "Logistic", "RELU": "Relu", "RELU6": "Relu6",
             "LEAKY_RELU": "LeakyRelu", "TANH": "Tanh", "HARD_SWISH": "HardSwish", "QUANTIZE": "Quantize",
             "DEQUANTIZE": "Dequantize", "MAXIMUM": "Maximum", "MINIMUM": "Minimum", "PRELU": "Prelu",
             "RESIZE_NEAREST_NEIGHBOR": "ResizeNearestNeighbor"}


def _c_list(values) -> str:
    return "{" + ", ".join(str(int(v)) for v in values) + "}"


def write_firmware(folder, tile_bytes: bytes, plan: TilePlan, arena: int, runner) -> list[Path]:
    """Write the firmware hand-off: the tile model as a C array, `tiling_config.h` (geometry, quantization,
    arena, op list) and the `tiled_inference.cc` template that runs the tiling loop with the TFLM API."""
    from deploy.convert import list_ops
    from deploy.export import to_c_array

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files = list(to_c_array(tile_bytes, folder))
    ops = sorted({o["op"] for o in list_ops(tile_bytes)})
    (in_scale, in_zero), (out_scale, out_zero) = runner.input["quantization"], runner.output["quantization"]
    channels, classes = int(runner.input["shape"][-1]), int(runner.output["shape"][-1])
    r, c = plan.rows, plan.cols
    config = folder / "tiling_config.h"
    atomic_write_text(config, f"""// Generated by edgeseg deploy (deploy/tiling.py): tile geometry for model_data.cc. Regenerate, do not edit.
// {plan.tiles} tiles of {plan.tile}x{plan.tile} px ({plan.core} px core + {plan.halo} px halo each side) cover a
// {plan.image[0]}x{plan.image[1]} image; halo compute overhead {plan.overhead:.0%}. Tiles at the image border are shifted
// inwards (never padded), every tile origin is a multiple of the model's alignment ({plan.alignment} px).
#pragma once
#include <cstdint>

namespace edgeseg {{
constexpr int kImageHeight = {plan.image[0]};
constexpr int kImageWidth = {plan.image[1]};
constexpr int kChannels = {channels};
constexpr int kClasses = {classes};
constexpr int kTile = {plan.tile};  // the model's input height and width
constexpr int kHalo = {plan.halo};
constexpr int kTilesY = {len(r.starts)};
constexpr int kTilesX = {len(c.starts)};
// Smallest arena measured by the TFLite-Micro host interpreter (64-bit); check arena_used_bytes() on the device.
constexpr int kArenaBytes = {arena};
// Tile i along an axis reads input [kTileStart[i], kTileStart[i] + kTile) and keeps output [kCoreStart[i], kCoreEnd[i]).
constexpr int kTileStartY[kTilesY] = {_c_list(r.starts)};
constexpr int kCoreStartY[kTilesY] = {_c_list(r.core_starts)};
constexpr int kCoreEndY[kTilesY] = {_c_list(r.core_ends)};
constexpr int kTileStartX[kTilesX] = {_c_list(c.starts)};
constexpr int kCoreStartX[kTilesX] = {_c_list(c.core_starts)};
constexpr int kCoreEndX[kTilesX] = {_c_list(c.core_ends)};
// int8 input = round(pixel / kInputScale) + kInputZeroPoint, pixels preprocessed as in training (0..1).
constexpr float kInputScale = {float(in_scale)!r}f;
constexpr int kInputZeroPoint = {int(in_zero)};
// probability = (int8 output - kOutputZeroPoint) * kOutputScale; foreground where it exceeds 0.5.
constexpr float kOutputScale = {float(out_scale)!r}f;
constexpr int kOutputZeroPoint = {int(out_zero)};
constexpr int8_t kOutputThreshold = {int(np.clip(np.floor(0.5 / out_scale + out_zero), -128, 127))};  // output > this
constexpr int kNumOps = {len(ops)};
}}  // namespace edgeseg

// The model's operators, for tflite::MicroMutableOpResolver (X(Name) calls resolver.AddName()).
#define EDGESEG_TFLM_OPS(X) {" ".join(f"X({_TFLM_ADD[o]})" for o in ops)}
""")
    template = folder / FIRMWARE_TEMPLATE.name
    atomic_write_text(template, FIRMWARE_TEMPLATE.read_text())
    return files + [config, template]


def plot_arena(models: dict, budget: int, path) -> None:
    """Arena against tile side for each model ({name: {"curve": [(tile, bytes)], "chosen": tile, "exact_min": tile}}),
    with the RAM budget as a horizontal line, the chosen tile circled and the smallest exact tile dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for (name, m), color in zip(models.items(), plt.rcParams["axes.prop_cycle"].by_key()["color"]):
        tiles, arenas = zip(*m["curve"])
        ax.plot(tiles, np.array(arenas) / 1024, "o-", ms=3, color=color, label=name)
        if m.get("chosen") in tiles:
            ax.plot(m["chosen"], arenas[tiles.index(m["chosen"])] / 1024, "o", ms=11, mfc="none", color=color)
        if m.get("exact_min"):
            ax.axvline(m["exact_min"], ls=":", color=color, label=f"{name}: smallest exact tile {m['exact_min']}")
    ax.axhline(budget / 1024, color="red", ls="--", label=f"budget {budget // 1024} KB")
    ax.set(xlabel="tile input side (px, core + 2 x halo)", ylabel="TFLM arena (KB, log scale)", yscale="log",
           title="Tensor arena vs tile size")
    ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90)
    plt.close(fig)


def markdown_lines(t: dict) -> list[str]:
    """The tiling section of report.md."""
    head = (f"Tiling for a {t['mcu_ram']} B arena: receptive field {t['receptive_field']} px, alignment "
            f"{t['alignment']} px, exact halo {t['exact_halo']} px; whole-image arena {t['whole_image_arena']} B.")
    if "error" in t:
        return ["", head, f"No tiling: {t['error']}."]
    lit, mcu = t["litert"], t["tflm_first_image"]
    lines = ["", head,
             f"Chosen tile: {t['tile_input']}x{t['tile_input']} px input ({t['core']} px core, halo {t['halo']} px, "
             f"{t['mode']}), {t['tiles']} tiles ({t['tiles_y']}x{t['tiles_x']}), arena {t['tile_arena']} B, flash "
             f"{t['tile_flash_bytes']} B, halo compute overhead {t['halo_compute_overhead']:.0%}.",
             f"Tiled vs whole-image INT8 on the eval images: identical outputs {lit['identical_outputs']:.4%}, masks agree "
             f"on {lit['mask_agreement']:.4%} of pixels" + (f", Dice {lit['dice_tiled']:.2f} vs {lit['dice_whole']:.2f} "
                                                             f"({lit['dice_change_points']:+.3f} points)" if "dice_tiled" in lit else "") + ".",
             f"TFLite-Micro on the first image: identical to LiteRT reference tiles: "
             f"{mcu['identical_to_litert_reference_tiles']}; identical to the whole image on "
             f"{mcu['identical_to_whole_image']:.4%} of outputs."]
    if "halo_scan" in t:
        lines.append("Exact tiles do not fit; halos tried (mask agreement): " +
                     ", ".join(f"{s['halo']} px {s['mask_agreement']:.4%}" for s in t["halo_scan"]) + ".")
    if "firmware" in t:
        lines.append(f"Firmware hand-off in firmware/: {', '.join(t['firmware'])} (tile model {t['tile_model']}); "
                     "arena against tile size in tiling.png.")
    return lines


def main(argv=None) -> int:
    """python -m deploy.tiling --plot arena.png [--mcu-ram 256K] [--image-size 256]: arena against tile size
    for the MCU-sized zoo models (shapes only, so random weights), with the budget and each chosen tile."""
    import argparse

    import zoo
    from deploy.options import parse_bytes
    from deploy.convert import to_tflite

    p = argparse.ArgumentParser(prog="python -m deploy.tiling", description=main.__doc__)
    p.add_argument("--plot", required=True, help="output .png")
    p.add_argument("--mcu-ram", type=parse_bytes, default=256 * 1024)
    p.add_argument("--image-size", type=int, default=256)
    p.add_argument("--models", default="quarter_multiresunet,half_multiresunet")
    a = p.parse_args(argv)
    curves = {}
    for name in a.models.split(","):
        model = zoo.build_model(name, input_shape=(a.image_size, a.image_size, 3))
        rf = receptive_field(model)
        x = np.random.default_rng(0).random((1, a.image_size, a.image_size, 3), dtype=np.float32)
        blob = to_tflite(model, "int8", [x])
        side = largest_fitting_tile(blob, a.mcu_ram, rf.alignment, a.image_size, rf.alignment)
        tiles = sorted({*range(rf.alignment * 4, min(a.image_size, 160) + 1, 8), side or rf.alignment * 4,
                        2 * rf.exact_halo + rf.alignment})
        curves[name] = {"curve": arena_curve(blob, tiles), "chosen": side, "exact_min": 2 * rf.exact_halo + rf.alignment}
        print(f"{name}: halo {rf.exact_halo}, largest tile in {a.mcu_ram} B: {side}; " +
              ", ".join(f"{t}:{b // 1024}K" for t, b in curves[name]["curve"]))
    plot_arena(curves, a.mcu_ram, a.plot)
    print(f"plot in {a.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
