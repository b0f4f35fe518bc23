"""Shared building blocks: tensor -> tensor functions made only of built-in, tfmot-friendly layers.

Every block names its layers from the `name` it is given (`{name}_conv`, `{name}_bn`,
`{name}_relu`), so TensorBoard histograms, pruning/QAT selection and weight loading read by name.
"""
from __future__ import annotations

import tensorflow as tf
import tf_keras as keras

from zoo.models.quantization import CUSTOM_QUANTIZE_CONFIGS, OutputQuantizeConfig

layers = keras.layers


@keras.saving.register_keras_serializable(package="edgeseg")
class EdgeUpSampling2D(layers.UpSampling2D):
    """`UpSampling2D` (integer factors, channels last) with the same outputs, in the TFLite form the
    Edge TPU compiler maps.

    Keras resizes with `half_pixel_centers=True`, which the TFLite converter writes as RESIZE_NEAREST_NEIGHBOR /
    RESIZE_BILINEAR op version 3; released Edge TPU compilers answer "Operation version not supported" for it
    and run that op and everything after it on the CPU (https://github.com/google-coral/edgetpu/issues/420,
    /114, /152, /206, /396, /597; https://github.com/tensorflow/tensorflow/issues/42024).

    - nearest: for an integer factor f, source index floor((d + 0.5) / f) (half-pixel) equals floor(d / f), so
      `half_pixel_centers=False` gives identical values and converts to op version 1 (float) / 2 (int8).
    - bilinear (half-pixel, edges clamped) for an integer factor f is exactly nearest x f, then edge
      replication by m = f // 2, then a fixed separable depthwise filter of taps 1/f (|k| < f/2) and 1/(2f)
      (|k| = f/2, even f): RESIZE_NEAREST_NEIGHBOR v2, STRIDED_SLICE, CONCATENATION, DEPTHWISE_CONV_2D in the
      INT8 file. Equal to Keras' bilinear up to float rounding (about 1e-7 of the values). In training the layer
      uses Keras' own bilinear resize (same values; XLA has no gradient for nearest resizes).
    """

    def _factors(self):
        return tuple(int(v) for v in self.size)

    def _nearest(self, inputs):
        fh, fw = self._factors()
        shape = inputs.shape[1:3]
        size = ([shape[0] * fh, shape[1] * fw] if None not in shape
                else tf.shape(inputs)[1:3] * tf.constant([fh, fw]))
        return tf.raw_ops.ResizeNearestNeighbor(images=inputs, size=size, align_corners=False, half_pixel_centers=False)

    @staticmethod
    def _taps(f: int):
        m = f // 2
        return [1.0 / (2 * f) if (f % 2 == 0 and abs(k) == m) else 1.0 / f for k in range(-m, m + 1)]

    def call(self, inputs, training=None):
        if self.data_format != "channels_last" or self.interpolation not in ("nearest", "bilinear"):
            return super().call(inputs)
        if self.interpolation == "nearest":
            return self._nearest(inputs)
        if training:
            return super().call(inputs)
        fh, fw = self._factors()
        x = self._nearest(inputs)
        mh, mw = fh // 2, fw // 2
        if mh:  # the first / last m rows of x all equal the input's edge row (m <= f)
            x = tf.concat([x[:, :mh], x, x[:, -mh:]], axis=1)
        if mw:
            x = tf.concat([x[:, :, :mw], x, x[:, :, -mw:]], axis=2)
        kernel = tf.constant([[a * b] for a in self._taps(fh) for b in self._taps(fw)], tf.float32)
        kernel = tf.reshape(kernel, (2 * mh + 1, 2 * mw + 1, 1, 1))
        kernel = tf.tile(kernel, [1, 1, x.shape[-1], 1])
        return tf.nn.depthwise_conv2d(x, tf.cast(kernel, x.dtype), strides=[1, 1, 1, 1], padding="VALID")

    def get_prunable_weights(self):  # tfmot pruning: no weights
        return []


# tfmot's 8-bit registry matches exact classes; quantize the output as it does for UpSampling2D.
CUSTOM_QUANTIZE_CONFIGS[EdgeUpSampling2D] = OutputQuantizeConfig


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
    x = EdgeUpSampling2D(2, interpolation=interpolation, name=f"{name}_up")(x)
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
        x = EdgeUpSampling2D(upsample, interpolation="bilinear", name=f"{name}_up")(x)
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
