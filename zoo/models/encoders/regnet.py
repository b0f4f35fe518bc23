"""RegNetY-800MF and -1600MF (Radosavovic et al., CVPR 2020) as flat encoders of built-in, tfmot-ready layers.

Layer for layer `keras.applications.RegNetY008 / RegNetY016(include_top=False)` with Keras' names
(`regnety008_stem_conv`, `regnety008_Stage_0_YBlock_0_conv_3x3`, `..._squeeze_and_excite_squeeze`,
`..._skip_1x1`, ...), so `load_imagenet` copies the official weights by name. Differences, all weight-free:
- no PreStem: Keras' `Rescaling(1 / 255)` is the data pipeline's [0, 1] input itself, so
  `INPUT_NORMALIZATION` is mean 0, std 1 (Keras' RegNet has no mean/std normalisation, unlike EfficientNet);
- the squeeze-excite product and the residual sum are `Multiply` / `Add` layers (Keras uses TFOpLambda ops,
  which tfmot refuses); `Multiply` has zoo.models.quantization's output-only QuantizeConfig.
The 3x3 convs are grouped (`Conv2D(groups=width // group_width)`): tfmot's default 8-bit registry
quantizes them, and the converter writes one grouped CONV_2D that LiteRT (XNNPACK and the reference
kernels) runs; the TFLite Micro and Edge TPU kernels do not support grouped CONV_2D (check before targeting them).

Features by stride: 2 `{name}_stem_relu` (32), 4/8/16/32 the last `_exit_relu` of stages 0..3
(Y-800MF: 64, 128, 320, 768; Y-1600MF: 48, 120, 336, 888). `output_stride` 16 (8) keeps stage 3 (and 2)
at stride 1 and dilates its later 3x3 convs by 2 (4) (the un-strided first block keeps the previous rate).
"""
from __future__ import annotations

import tf_keras as keras

from zoo.models.pretrained import copy_weights, weights_file

layers = keras.layers

# Keras' PreStem is Rescaling(1/255) only: the [0, 1] pixels as they are.
INPUT_NORMALIZATION = {"mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0)}

# variant -> (blocks per stage, stage widths, group width), as keras.applications.regnet MODEL_CONFIGS.
VARIANTS = {"y008": ((1, 3, 8, 2), (64, 128, 320, 768), 16), "y016": ((2, 6, 17, 2), (48, 120, 336, 888), 24)}
STEM_FILTERS = 32


def _bn(x, name: str):
    return layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=name)(x)


def _conv(x, filters: int, kernel: int, name: str, **kw):
    return layers.Conv2D(filters, kernel, use_bias=False, padding="same", kernel_initializer="he_normal", name=name,
                         **kw)(x)


def squeeze_excite(x, se_filters: int, name: str):
    """Keras' `SqueezeAndExciteBlock`: GAP -> 1x1 conv + ReLU -> 1x1 conv + sigmoid -> Multiply."""
    s = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_squeeze_and_excite_gap")(x)
    s = layers.Conv2D(se_filters, 1, activation="relu", kernel_initializer="he_normal",
                      name=f"{name}_squeeze_and_excite_squeeze")(s)
    s = layers.Conv2D(x.shape[-1], 1, activation="sigmoid", kernel_initializer="he_normal",
                      name=f"{name}_squeeze_and_excite_excite")(s)
    return layers.Multiply(name=f"{name}_squeeze_and_excite_multiply")([s, x])


def y_block(x, filters: int, group_width: int, *, stride: int = 1, dilation: int = 1, name: str):
    """RegNet Y block: 1x1 -> grouped 3x3 (stride, dilation) -> SE (1/4 of the input width) -> 1x1, + skip."""
    filters_in = x.shape[-1]
    skip = x
    if stride != 1 or filters_in != filters:  # (Keras: stride != 1; equal when the first block is not dilated)
        skip = _bn(_conv(x, filters, 1, f"{name}_skip_1x1", strides=stride), f"{name}_skip_bn")
    y = _conv(x, filters, 1, f"{name}_conv_1x1_1")
    y = layers.ReLU(name=f"{name}_conv_1x1_1_relu")(_bn(y, f"{name}_conv_1x1_1_bn"))
    y = _conv(y, filters, 3, f"{name}_conv_3x3", strides=stride, dilation_rate=dilation, groups=filters // group_width)
    y = layers.ReLU(name=f"{name}_conv_3x3_relu")(_bn(y, f"{name}_conv_3x3_bn"))
    y = squeeze_excite(y, int(filters_in * 0.25), name)
    y = _bn(_conv(y, filters, 1, f"{name}_conv_1x1_2"), f"{name}_conv_1x1_2_bn")
    y = layers.Add(name=f"{name}_add")([y, skip])
    return layers.ReLU(name=f"{name}_exit_relu")(y)


def regnet(inputs, *, variant: str | tuple = "y008", output_stride: int = 32, name: str | None = None) -> dict:
    """RegNetY features of `inputs` keyed by stride {2, 4, 8, 16, 32} (zoo/encoders convention).

    `variant`: "y008" (800MF), "y016" (1600MF), or (depths, widths, group_width) for a custom size (no
    ImageNet weights). Layer names start with `name` (default `regnet{variant}`, Keras' model name).
    Inputs in [0, 1] (`INPUT_NORMALIZATION`).
    """
    if isinstance(variant, str) and variant not in VARIANTS:
        raise ValueError(f"regnet: variant must be one of {', '.join(VARIANTS)} or (depths, widths, group_width), "
                         f"got {variant!r}")
    if output_stride not in (8, 16, 32):
        raise ValueError(f"regnet: output_stride must be 8, 16 or 32, got {output_stride}")
    depths, widths, group_width = VARIANTS[variant] if isinstance(variant, str) else variant
    name = name or (f"regnet{variant}" if isinstance(variant, str) else "regnet")
    x = _conv(inputs, STEM_FILTERS, 3, f"{name}_stem_conv", strides=2)
    x = layers.ReLU(name=f"{name}_stem_relu")(_bn(x, f"{name}_stem_bn"))
    features, stride, dilation = {2: x}, 2, 1
    for stage, (depth, filters) in enumerate(zip(depths, widths)):
        step = 1 if stride == output_stride else 2
        for j in range(depth):
            x = y_block(x, filters, group_width, stride=step if j == 0 else 1,
                        dilation=dilation if j == 0 else dilation * (2 // step), name=f"{name}_Stage_{stage}_YBlock_{j}")
        stride, dilation = stride * step, dilation * (2 // step)
        features[4 * 2 ** stage] = x  # a dilated stage keeps its key; its map stays at output_stride
    return features


def weights_filename(variant: str) -> str:
    """The keras.applications no-top ImageNet weights file (`regnety008_notop.h5`)."""
    return f"regnet{variant}_notop.h5"


def keras_reference(variant: str = "y008", input_shape=(224, 224, 3), weights=None, include_preprocessing=True):
    """`keras.applications.RegNetY008/016(include_top=False)` (with its Rescaling PreStem unless told not to)."""
    builder = getattr(keras.applications, f"RegNet{variant.upper()}")
    return builder(include_top=False, weights=weights, input_shape=tuple(input_shape),
                   include_preprocessing=include_preprocessing)


def load_imagenet(model, path=None, *, variant: str = "y008") -> int:
    """Copy the official ImageNet weights of RegNet`variant` into `model`'s encoder layers (same names).

    `path`: the `.h5` file or its folder; None or "imagenet" takes it from the Keras cache, downloading it
    there on first use (offline, a missing file raises `zoo.models.pretrained.WeightsNotFound` in one line).
    Returns the layers copied.
    """
    if variant not in VARIANTS:
        raise ValueError(f"regnet: ImageNet weights here for {', '.join(VARIANTS)} only, not {variant!r}")
    channels = model.input_shape[-1]
    if channels != 3:
        raise ValueError(f"{model.name}: ImageNet weights need 3-channel RGB input, the model takes {channels}")
    filename = weights_filename(variant)
    file = weights_file(filename, path)
    reference = keras_reference(variant)
    reference.load_weights(str(file))
    return copy_weights(model, reference)
