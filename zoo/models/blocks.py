"""Shared building blocks: tensor -> tensor functions made only of built-in, tfmot-friendly layers.

Every block names its layers from the `name` it is given (`{name}_conv`, `{name}_bn`,
`{name}_relu`), so TensorBoard histograms, pruning/QAT selection and weight loading read by name.
"""
from __future__ import annotations

import tf_keras as keras

layers = keras.layers


def conv_bn_act(x, filters: int, kernel_size: int = 3, *, strides: int = 1, activation: str | None = "relu",
                batch_norm: bool = True, name: str):
    """Conv -> BatchNorm -> Activation (the pattern tfmot folds and quantizes).

    The conv has no bias when BatchNorm follows (BN's beta plays that role). `activation=None`
    leaves the output linear, with no Activation layer.
    """
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding="same", use_bias=not batch_norm,
                      kernel_initializer="he_normal", name=f"{name}_conv")(x)
    if batch_norm:
        # momentum 0.9, not Keras' 0.99: short CPU runs of a few hundred steps otherwise evaluate
        # with moving statistics still near their initial values.
        x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
    if activation:
        x = layers.Activation(activation, name=f"{name}_{activation}")(x)
    return x


def upsample_concat(skip, x, *, name: str, interpolation: str = "nearest"):
    """2x upsampling of `x` (nearest-neighbour as paper 002, or bilinear), concatenated after `skip`
    (encoder tensor first, paper 002 Eq. 6). XLA has no gradient kernel for nearest: use bilinear with XLA."""
    x = layers.UpSampling2D(2, interpolation=interpolation, name=f"{name}_up")(x)
    return layers.Concatenate(name=f"{name}_concat")([skip, x])


def multires_block(x, filters: int, *, alpha: float = 1.67, batch_norm: bool = True, name: str):
    """MultiRes block (paper 002 Eqs. 10-13; Ibtehaz & Rahman 2020), followed by the stage ReLU.

    Three chained 3x3 convs (m1 -> m2 -> m3, receptive fields 3, 5, 7) with 1/6, 2/6, 3/6 of
    W = alpha * filters channels, concatenated and added to a learned 1x1 shortcut. The paper
    writes an identity shortcut (Eq. 13) but discusses "kernels of skip connections" inside the
    block (section 4.5), and an identity cannot change the channel count between stages, so the
    shortcut is a 1x1 conv as in the original MultiResUNet.
    """
    w = alpha * filters
    f1, f2, f3 = (max(1, int(w * r)) for r in (0.167, 0.333, 0.5))  # at least 1 at small widths
    shortcut = conv_bn_act(x, f1 + f2 + f3, 1, activation=None, batch_norm=batch_norm, name=f"{name}_shortcut")
    m1 = conv_bn_act(x, f1, 3, batch_norm=batch_norm, name=f"{name}_m1")
    m2 = conv_bn_act(m1, f2, 3, batch_norm=batch_norm, name=f"{name}_m2")
    m3 = conv_bn_act(m2, f3, 3, batch_norm=batch_norm, name=f"{name}_m3")
    x = layers.Concatenate(name=f"{name}_concat")([m1, m2, m3])
    x = layers.Add(name=f"{name}_add")([x, shortcut])
    return layers.Activation("relu", name=f"{name}_relu")(x)


def res_path(x, filters: int, length: int, *, batch_norm: bool = True, name: str):
    """Res path (paper 002 Eqs. 14-15): `length` repetitions of ReLU(Conv1x1(x)) + ReLU(Conv3x3(x)).

    The paper puts a ReLU on each branch before the sum (the original MultiResUNet activates after
    it) and repeats the unit 4 times at every level. Layers: `{name}_{i}_conv1x1_*`, `{name}_{i}_conv3x3_*`.
    """
    for i in range(length):
        a = conv_bn_act(x, filters, 1, batch_norm=batch_norm, name=f"{name}_{i}_conv1x1")
        b = conv_bn_act(x, filters, 3, batch_norm=batch_norm, name=f"{name}_{i}_conv3x3")
        x = layers.Add(name=f"{name}_{i}_add")([a, b])
    return x


def segmentation_head(x, num_classes: int, activation: str | None, *, name: str = "head", kernel_size: int = 1,
                      upsample: int = 1):
    """kxk conv to `num_classes` maps, bilinear x`upsample` when > 1, then the output activation in float32
    (None gives logits). Layers `{name}_conv`, `{name}_up`, `{name}_{activation}`."""
    x = layers.Conv2D(num_classes, kernel_size, padding="same", name=f"{name}_conv")(x)
    if upsample > 1:
        x = layers.UpSampling2D(upsample, interpolation="bilinear", name=f"{name}_up")(x)
    if activation:
        x = layers.Activation(activation, dtype="float32", name=f"{name}_{activation}")(x)
    return x


def check_input_shape(input_shape, stride: int, model: str) -> tuple[int, int, int]:
    """Validate (H, W, C): H and W must be divisible by the model's total stride."""
    if len(input_shape) != 3:
        raise ValueError(f"{model}: input_shape must be (height, width, channels), got {tuple(input_shape)}")
    h, w, c = (int(v) for v in input_shape)
    for side, v in (("height", h), ("width", w)):
        if v % stride or v <= 0:
            up = max(stride, -(-v // stride) * stride)
            raise ValueError(f"{model}: input {side} {v} is not divisible by the model's stride {stride}; "
                             f"use {up} (or {max(stride, up - stride)})")
    return h, w, c


def scaled(filters: int, width: float) -> int:
    """Channel count scaled by a width multiplier (at least 1)."""
    return max(1, int(round(filters * width)))


def supervised_output(top_row: list, num_classes: int, activation: str | None, deep_supervision, *,
                      kernel_size: int = 1, factors=None):
    """One head on the last node, or (deep supervision) one per node, averaged or kept separate.

    `factors[i]`: bilinear upsampling of node i's head to the input size (default 1 for all).
    """
    factors = list(factors or [1] * len(top_row))
    if not deep_supervision:
        return segmentation_head(top_row[-1], num_classes, activation, kernel_size=kernel_size, upsample=factors[-1])
    if deep_supervision not in (True, "average", "separate"):
        raise ValueError(f"deep_supervision must be False, True ('average') or 'separate', got {deep_supervision!r}")
    heads = [segmentation_head(x, num_classes, activation, name=f"head{j}", kernel_size=kernel_size, upsample=f)
             for j, (x, f) in enumerate(zip(top_row, factors), 1)]
    if deep_supervision == "separate":
        return heads
    return layers.Average(dtype="float32", name="head_average")(heads)
