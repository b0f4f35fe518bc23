"""MobileNetV2 (Sandler et al., CVPR 2018) as a flat encoder of built-in, tfmot-ready layers.

Layer for layer `keras.applications.MobileNetV2(include_top=False)`, with its names (`Conv1`, `bn_Conv1`,
`expanded_conv_depthwise`, `block_1_expand`, `block_1_pad`, ..., `Conv_1`, `out_relu`), channel rounding
(`_make_divisible`, as `mobilenetv3._depth`), BatchNorm settings and stride-2 padding, so `load_imagenet`
copies the official weights by name. Keras' model has no preprocessing layer: it expects [-1, 1], which
is `(x - 0.5) / 0.5` on [0, 1] pixels (`INPUT_NORMALIZATION`).

Feature taps (`taps=`):
- "blocks" (default; smp's and this package's convention: the last map at each stride):
  2 `expanded_conv_project_BN` (16 ch at alpha 1), 4 `block_2_add` (24), 8 `block_5_add` (32),
  16 `block_12_add` (96), 32 `out_relu` (1280; `top=False`: `block_16_project_BN`, 320).
- "expand" (the TensorFlow segmentation tutorial's U-Net taps): 2 `block_1_expand_relu` (96),
  4 `block_3_expand_relu` (144), 8 `block_6_expand_relu` (192), 16 `block_13_expand_relu` (576),
  32 `block_16_project_BN` (320), or `out_relu` with `top=True`.

`output_stride` 16 (8) turns block 13 (and 6) into stride 1 and dilates the blocks after it by 2 (4),
as TF-slim / DeepLab do (the un-strided block keeps the previous rate, like `efficientnet.py`).
"""
from __future__ import annotations

import tf_keras as keras

from zoo.models.encoders.mobilenetv3 import _depth as make_divisible, _stride2_pad
from zoo.models.pretrained import copy_weights, weights_file

layers = keras.layers

# Keras' MobileNetV2 input range [-1, 1] in [0, 1] pixel units.
INPUT_NORMALIZATION = {"mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)}

ALPHAS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)  # those with official weights
ROWS = (96, 128, 160, 192, 224)

# (output channels before alpha, stride, expansion) of blocks 0..16, as keras.applications.
BLOCKS = ((16, 1, 1), (24, 2, 6), (24, 1, 6), (32, 2, 6), (32, 1, 6), (32, 1, 6), (64, 2, 6), (64, 1, 6),
          (64, 1, 6), (64, 1, 6), (96, 1, 6), (96, 1, 6), (96, 1, 6), (160, 2, 6), (160, 1, 6), (160, 1, 6),
          (320, 1, 6))

TAPS = {
    "blocks": {2: "expanded_conv_project_BN", 4: "block_2_add", 8: "block_5_add", 16: "block_12_add"},
    "expand": {2: "block_1_expand_relu", 4: "block_3_expand_relu", 8: "block_6_expand_relu",
               16: "block_13_expand_relu"},
}


def _bn_relu6(x, bn_name: str, relu_name: str | None, record: dict | None = None):
    """BatchNorm (Keras' MobileNetV2 settings), then ReLU6 unless `relu_name` is None; `record[name] = output`."""
    x = layers.BatchNormalization(epsilon=1e-3, momentum=0.999, name=bn_name)(x)
    if relu_name:
        x = layers.ReLU(6.0, name=relu_name)(x)
    if record is not None:
        record[relu_name or bn_name] = x
    return x


def inverted_res_block(x, *, filters: int, stride: int, expansion: int, block_id: int, dilation: int = 1,
                       record: dict | None = None):
    """Keras' `_inverted_res_block`: 1x1 expand -> ReLU6 -> 3x3 depthwise -> ReLU6 -> 1x1 project (+ identity).

    `record`, if given, receives every activation and the block output by layer name (for feature taps)."""
    in_channels = x.shape[-1]
    inputs = x
    prefix = f"block_{block_id}_" if block_id else "expanded_conv_"
    if block_id:
        x = layers.Conv2D(expansion * in_channels, 1, padding="same", use_bias=False, name=f"{prefix}expand")(x)
        x = _bn_relu6(x, f"{prefix}expand_BN", f"{prefix}expand_relu", record)
    if stride == 2:
        x = _stride2_pad(x, 3, f"{prefix}pad")
    x = layers.DepthwiseConv2D(3, strides=stride, use_bias=False, padding="same" if stride == 1 else "valid",
                               dilation_rate=dilation, name=f"{prefix}depthwise")(x)
    x = _bn_relu6(x, f"{prefix}depthwise_BN", f"{prefix}depthwise_relu")
    x = layers.Conv2D(filters, 1, padding="same", use_bias=False, name=f"{prefix}project")(x)
    x = _bn_relu6(x, f"{prefix}project_BN", None, record)
    if in_channels == filters and stride == 1:
        x = layers.Add(name=f"{prefix}add")([inputs, x])
        if record is not None:
            record[f"{prefix}add"] = x
    return x


def mobilenetv2(inputs, *, alpha: float = 1.0, output_stride: int = 32, taps: str = "blocks", top: bool = True) -> dict:
    """MobileNetV2 features of `inputs` keyed by stride {2, 4, 8, 16, 32} (zoo/encoders convention).

    `taps` "blocks" or "expand" (module docstring); `top` adds Keras' 1x1 `Conv_1` (1280 channels, or
    1280 alpha for alpha > 1) + ReLU6 `out_relu` as the stride-32 map. Inputs: `INPUT_NORMALIZATION`.
    """
    if taps not in TAPS:
        raise ValueError(f"mobilenetv2: taps must be one of {sorted(TAPS)}, got {taps!r}")
    if output_stride not in (8, 16, 32):
        raise ValueError(f"mobilenetv2: output_stride must be 8, 16 or 32, got {output_stride}")
    x = layers.Conv2D(make_divisible(32 * alpha), 3, strides=2, padding="same", use_bias=False, name="Conv1")(inputs)
    x = _bn_relu6(x, "bn_Conv1", "Conv1_relu")
    named, stride, dilation = {}, 2, 1
    for block_id, (channels, s, expansion) in enumerate(BLOCKS):
        block_dilation = dilation
        if s == 2:
            if stride == output_stride:  # dilate the following blocks instead of downsampling (TF-slim's rule)
                s, dilation = 1, dilation * 2
            stride *= s
        x = inverted_res_block(x, filters=make_divisible(int(channels * alpha)), stride=s, expansion=expansion,
                               block_id=block_id, dilation=block_dilation, record=named)
    if top:
        x = layers.Conv2D(make_divisible(1280 * alpha) if alpha > 1.0 else 1280, 1, use_bias=False, name="Conv_1")(x)
        x = _bn_relu6(x, "Conv_1_bn", "out_relu")
    features = {s: named[name] for s, name in TAPS[taps].items()}
    features[32] = x
    return features


def keras_reference(alpha: float = 1.0, input_shape=None, weights=None):
    """The `keras.applications.MobileNetV2(include_top=False)` our encoder mirrors."""
    return keras.applications.MobileNetV2(input_shape=input_shape, alpha=alpha, include_top=False, weights=weights)


def imagenet_filename(alpha: float = 1.0, rows: int = 224) -> str:
    """Name of the official no-top weights file, as `keras.applications` caches it."""
    return f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{rows}_no_top.h5"


def load_imagenet(model, path=None, *, alpha: float = 1.0, rows: int = 224) -> int:
    """Copy official ImageNet weights (trained at `rows` x `rows`) into the MobileNetV2 layers of `model`.

    `path`: the .h5 file or its folder; None or "imagenet" takes it from the Keras cache, downloading it there
    on first use (offline, a missing file raises `zoo.models.pretrained.WeightsNotFound` in one line).
    Returns the layers copied.
    """
    if alpha not in ALPHAS or rows not in ROWS:
        raise ValueError(f"no ImageNet weights for MobileNetV2 alpha {alpha} at {rows} rows "
                         f"(Keras has alpha {ALPHAS}, rows {ROWS})")
    channels = model.input_shape[-1]
    if channels != 3:
        raise ValueError(f"{model.name}: ImageNet weights need 3-channel RGB input, the model takes {channels}")
    name = imagenet_filename(alpha, rows)
    file = weights_file(name, path)
    reference = keras_reference(alpha, input_shape=(rows, rows, 3))
    reference.load_weights(str(file))
    has_top = "Conv_1" in {layer.name for layer in model.layers}
    return copy_weights(model, reference, lambda n: None if not has_top and n in ("Conv_1", "Conv_1_bn") else n)
