"""Parameter and FLOP counts, with multiplications and additions counted separately (as paper 002's Table 4).

Convolutions and dense layers cost `2 * k*k*Cin - 1` per output value plus one add for the bias;
BatchNorm 2 (scale and shift), element-wise activations 1, `Add` (n - 1), 2x2 max-pooling 3 per
output value; reshaping layers (upsampling, concatenation) cost nothing. Written by hand because
TensorFlow's profiler counts a different convention and needs a frozen graph.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import tf_keras as keras

layers = keras.layers


def _elements(shape) -> int:
    return int(np.prod([d for d in shape[1:]]))


def layer_flops(layer) -> int:
    """FLOPs of one layer for one input image (batch dimension ignored)."""
    out = layer.output_shape
    if isinstance(out, list):
        out = out[0]
    n = _elements(out)
    if isinstance(layer, layers.DepthwiseConv2D):
        kh, kw = layer.kernel_size
        return n * (2 * kh * kw - 1 + int(layer.use_bias))
    if isinstance(layer, layers.Conv2DTranspose):  # each input value meets kh*kw*Cout weights
        return 2 * layer_macs(layer) - n + n * int(layer.use_bias)
    if isinstance(layer, layers.Conv2D):  # also SeparableConv2D's pointwise part is not handled here
        kh, kw = layer.kernel_size
        cin = layer.input_shape[-1] // layer.groups
        return n * (2 * kh * kw * cin - 1 + int(layer.use_bias))
    if isinstance(layer, layers.Dense):
        return n * (2 * layer.input_shape[-1] - 1 + int(layer.use_bias))
    if isinstance(layer, layers.BatchNormalization):
        return 2 * n
    if isinstance(layer, (layers.Activation, layers.ReLU)):
        return n
    if isinstance(layer, (layers.Add, layers.Multiply)):
        return n * (len(layer.input_shape) - 1)
    if isinstance(layer, (layers.MaxPooling2D, layers.AveragePooling2D)):
        ph, pw = layer.pool_size
        return n * (ph * pw - 1)
    return 0


def count_flops(model) -> int:
    """Total FLOPs (mult and add separately) of `model` for one input at its built input shape."""
    return sum(layer_flops(layer) for layer in model.layers)


def count_params(model) -> int:
    """All weights, trainable and not (BatchNorm moving statistics included), as Keras counts them."""
    return int(model.count_params())


# --- multiply-accumulates (papers 000, 003, 004 report "GFLOPs" that are MACs, as PyTorch's thop counts) ---

def layer_macs(layer) -> int:
    """Multiply-accumulates of one conv / transposed conv / dense layer for one image; 0 for other layers."""
    if isinstance(layer, layers.Conv2DTranspose):
        kh, kw = layer.kernel_size
        return _elements(layer.input_shape) * kh * kw * layer.filters
    if isinstance(layer, layers.DepthwiseConv2D):
        kh, kw = layer.kernel_size
        return _elements(layer.output_shape) * kh * kw
    if isinstance(layer, layers.Conv2D):
        kh, kw = layer.kernel_size
        return _elements(layer.output_shape) * kh * kw * (layer.input_shape[-1] // layer.groups)
    if isinstance(layer, layers.Dense):
        return _elements(layer.output_shape) * layer.input_shape[-1]
    return 0


def count_macs(model) -> int:
    """Multiply-accumulates of the convolutions and dense layers of `model` for one input (thop's convention)."""
    return sum(layer_macs(layer) for layer in model.layers)


def models_table(pattern: str | None = None) -> str:
    """`train.py --list-models`: name, parameters, FLOPs and MACs at the paper's input size, beside the
    paper's figures. Without `pattern`, the papers' named models; with one (wildcards), every matching model,
    encoder x decoder pairs included (built at 256x256 when no paper gives a size)."""
    from zoo.models.registry import build_model, get_model_info, list_models

    names = list_models(pattern) if pattern else list_models(pairs=False)
    if not names:
        return f"no model matches {pattern!r} (see python train.py --list-models '*')"
    shipped = {}  # model -> trained models shipped in tflite_models/<name>/ (their card.json)
    for card in sorted((Path(__file__).resolve().parents[2] / "tflite_models").glob("*/card.json")):
        shipped.setdefault(json.loads(card.read_text()).get("model"), []).append(card.parent.name)
    rows = [f"{'model':32s}{'input':>12s}{'params':>11s}{'trainable':>11s}{'paper':>11s}{'FLOPs':>9s}{'paper':>9s}"
            f"{'MACs':>9s}{'paper':>9s}  trained (tflite_models/)"]
    for name in names:
        info = get_model_info(name)
        shape = tuple(info.get("input_shape", (512, 512, 3) if not pattern else (256, 256, 3)))
        m = build_model(name, input_shape=shape)
        trainable = int(sum(np.prod(w.shape) for w in m.trainable_weights))
        paper_p = f"{info['params'] / 1e6:.4f}M" if "params" in info else "-"
        paper_f = f"{info['flops'] / 1e9:.1f}B" if "flops" in info else "-"
        paper_m = f"{info['macs'] / 1e9:.3f}G" if "macs" in info else "-"
        rows.append(f"{name:32s}{'x'.join(map(str, shape)):>12s}{m.count_params() / 1e6:>10.4f}M"
                    f"{trainable / 1e6:>10.4f}M{paper_p:>11s}{count_flops(m) / 1e9:>8.1f}B{paper_f:>9s}"
                    f"{count_macs(m) / 1e9:>8.3f}G{paper_m:>9s}  {', '.join(shipped.get(name, [])) or '-'}")
        keras.backend.clear_session()
    return "\n".join(rows) + ("\nparams: all weights incl. BatchNorm statistics; trainable: what PyTorch papers count. "
                              "FLOPs count multiplications and additions separately (paper 002); MACs count conv and "
                              "dense multiply-accumulates (papers 000, 003, 004 call these 'GFLOPs').")
