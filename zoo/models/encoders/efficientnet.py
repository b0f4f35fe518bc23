"""EfficientNet-B0..B3 and -Lite0..Lite4 encoders (Tan & Le, ICML 2019) as one flat graph of built-in,
tfmot-friendly layers.

The graph and layer names are those of `keras.applications.EfficientNetB0..B3(include_top=False)`,
so `load_imagenet` copies the official weights by name, with three differences that leave the
function unchanged:
- no Rescaling / Normalization layers: the data pipeline feeds `(x - mean) / std` with
  `INPUT_NORMALIZATION` (x in [0, 1]). That is what the Keras model computes with ImageNet weights:
  its weights file stores the ImageNet *standard deviations* as the Normalization layer's variance,
  so the layer divides by sqrt(std), and Keras multiplies by 1 / sqrt(std) once more
  (tensorflow/tensorflow#49930): (x / 255 - mean) / sqrt(std) / sqrt(std) = (x / 255 - mean) / std.
  (With `weights=None` that Keras model only divides by 255.)
- stride-2 convolutions use `padding="same"` instead of ZeroPadding2D + "valid": for the even sizes
  an encoder of total stride 32 receives, TensorFlow's "same" pads (k//2 - 1, k//2), exactly Keras'
  `correct_pad`; one PAD op fewer per downsampling in the exported file.
- squeeze-excite pools with `GlobalAveragePooling2D(keepdims=True)` instead of pooling + Reshape.

Features by stride are the stage outputs (as timm and keras-hub tap it): 2 `block1a_project_bn`,
4 `block2b_add`, 8 `block3b_add`, 16 `block5c_add`, 32 `block7a_project_bn` (B0: 16, 24, 40, 112,
320 channels; B0 without its 1x1 `top_conv` has 3,595,388 trainable parameters). `top=True` keeps
Keras' `top_conv` (1280 channels) as the stride-32 map: then the graph is the whole no-top Keras model.

EfficientNet-Lite (`variant="lite0"`..`"lite4"`, TensorFlow's `efficientnet_lite_builder`, made for integer
accelerators): the same MBConv stages and names without squeeze-excite, ReLU6 instead of swish, and a fixed
stem and head: the stem conv keeps 32 channels and `top_conv` 1280 whatever the width, and the first and
last stages keep one block whatever the depth coefficient. keras.applications has no Lite model, so no
weights: `load_imagenet` refuses Lite in one line (TF publishes Lite checkpoints only as TF1
checkpoints and .tflite files). Trainable parameters with `top_conv` plus the 1000-way classifier
(1280 x 1000 + 1000) give TF's published sizes: Lite0..Lite4 4.65, 5.42, 6.09, 8.20, 13.01 M (published
4.7, 5.4, 6.1, 8.2, 13.0 M). Lite0 without `top_conv`: 2,958,848 trainable (2,998,304 with BN statistics),
feature channels 16, 24, 40, 112, 320 as B0.
"""
from __future__ import annotations

import math

import numpy as np
import tf_keras as keras

from zoo.models.pretrained import copy_weights, weights_file

layers = keras.layers

# In [0, 1] pixel units; the data pipeline feeds (x - mean) / std (ImageNet statistics, RGB).
INPUT_NORMALIZATION = {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225)}
# What TF's efficientnet_lite_builder feeds its Lite models ((x - 127) / 128 on [0, 255]), for Lite weights
# ported from elsewhere; without weights either normalisation trains.
LITE_INPUT_NORMALIZATION = {"mean": (127 / 255,) * 3, "std": (128 / 255,) * 3}

# variant -> (width coefficient, depth coefficient), as keras.applications (Tan & Le 2019).
VARIANTS = {"b0": (1.0, 1.0), "b1": (1.0, 1.1), "b2": (1.1, 1.2), "b3": (1.2, 1.4)}
# EfficientNet-Lite (TF `efficientnet_lite_builder.efficientnet_lite_params`): no SE, ReLU6, fixed stem/head.
LITE_VARIANTS = {"lite0": (1.0, 1.0), "lite1": (1.0, 1.1), "lite2": (1.1, 1.2), "lite3": (1.2, 1.4),
                 "lite4": (1.4, 1.8)}

# MBConv stages of B0: (kernel, repeats, filters_in, filters_out, expand_ratio, stride); SE ratio 0.25.
STAGES = ((3, 1, 32, 16, 1, 1), (3, 2, 16, 24, 6, 2), (5, 2, 24, 40, 6, 2), (3, 3, 40, 80, 6, 2),
          (5, 3, 80, 112, 6, 1), (5, 4, 112, 192, 6, 2), (3, 1, 192, 320, 6, 1))

# Keras' EfficientNet initialisers (the official weights replace them when loaded).
# A config, not an instance: one shared initializer instance would give same-shaped layers identical weights.
CONV_INIT = {"class_name": "VarianceScaling", "config": {"scale": 2.0, "mode": "fan_out", "distribution": "truncated_normal"}}


def round_filters(filters: float, width: float, divisor: int = 8) -> int:
    """Channels scaled by the width coefficient, rounded to a multiple of 8 (never down by more than 10 %)."""
    filters *= width
    new = max(divisor, int(filters + divisor / 2) // divisor * divisor)
    return int(new + divisor if new < 0.9 * filters else new)


def round_repeats(repeats: int, depth: float) -> int:
    """Blocks per stage scaled by the depth coefficient (rounded up)."""
    return int(math.ceil(depth * repeats))


def stage_repeats(depth: float, lite: bool = False) -> list[int]:
    """Blocks in each of the 7 stages; Lite keeps the first and last stage at their B0 repeats (`fix_head_stem`)."""
    last = len(STAGES) - 1
    return [s[1] if lite and i in (0, last) else round_repeats(s[1], depth) for i, s in enumerate(STAGES)]


def mbconv(x, *, filters_in: int, filters_out: int, kernel_size: int, strides: int, expand_ratio: int,
           dilation: int = 1, se_ratio: float = 0.25, drop_rate: float = 0.0, activation: str = "swish",
           name: str):
    """Inverted residual block with squeeze-excite, named like keras.applications' `block` (`{name}expand_conv`, ...).

    expand 1x1 -> depthwise kxk -> SE gate (pool, reduce, expand, Multiply) -> project 1x1, plus the
    identity (with drop-connect during training) when shapes allow.
    """
    inputs = x
    filters = filters_in * expand_ratio
    if expand_ratio != 1:
        x = layers.Conv2D(filters, 1, padding="same", use_bias=False, kernel_initializer=CONV_INIT,
                          name=f"{name}expand_conv")(x)
        x = layers.BatchNormalization(name=f"{name}expand_bn")(x)
        x = layers.Activation(activation, name=f"{name}expand_activation")(x)
    x = layers.DepthwiseConv2D(kernel_size, strides=strides, padding="same", dilation_rate=dilation, use_bias=False,
                               depthwise_initializer=CONV_INIT, name=f"{name}dwconv")(x)
    x = layers.BatchNormalization(name=f"{name}bn")(x)
    x = layers.Activation(activation, name=f"{name}activation")(x)
    if 0 < se_ratio <= 1:
        se = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}se_squeeze")(x)
        # Swish as its own layer: fused into this conv, the QAT-converted INT8 file crashed LiteRT's XNNPACK
        # delegate (double free; measured with tfmot 0.8.1, ai-edge-litert 2.3). A fused sigmoid converts fine.
        se = layers.Conv2D(max(1, int(filters_in * se_ratio)), 1, kernel_initializer=CONV_INIT,
                           name=f"{name}se_reduce")(se)
        se = layers.Activation(activation, name=f"{name}se_reduce_activation")(se)
        se = layers.Conv2D(filters, 1, activation="sigmoid", kernel_initializer=CONV_INIT, name=f"{name}se_expand")(se)
        x = layers.Multiply(name=f"{name}se_excite")([x, se])
    x = layers.Conv2D(filters_out, 1, padding="same", use_bias=False, kernel_initializer=CONV_INIT,
                      name=f"{name}project_conv")(x)
    x = layers.BatchNormalization(name=f"{name}project_bn")(x)
    if strides == 1 and filters_in == filters_out:
        if drop_rate > 0:
            x = layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=f"{name}drop")(x)
        x = layers.Add(name=f"{name}add")([x, inputs])
    return x


def efficientnet(inputs, *, variant: str | tuple = "b0", output_stride: int = 32, top: bool = False,
                 drop_connect_rate: float = 0.2, activation: str | None = None, lite: bool | None = None) -> dict:
    """EfficientNet encoder on `inputs`; returns each stage's output keyed by stride (2, 4, 8, 16, 32).

    `variant`: "b0".."b3", "lite0".."lite4", or (width, depth) coefficients for a custom size (e.g. a tiny
    (0.25, 0.1) for fast tests; no ImageNet weights for those). `lite` (default: from the variant name) selects
    the Lite design (no squeeze-excite, fixed stem and head); `activation` defaults to "relu6" for Lite,
    "swish" otherwise. `top=True` adds Keras' 1x1 `top_conv` (1280 channels for B0) as the stride-32 map,
    i.e. the whole no-top Keras model. `output_stride` 16 or 8 replaces the later stride-2 depthwise convs by
    dilated ones (deeper keys then repeat that stride). Inputs must be normalised with `INPUT_NORMALIZATION`.
    """
    known = {**VARIANTS, **LITE_VARIANTS}
    if isinstance(variant, str) and variant not in known or not isinstance(variant, (str, tuple, list)):
        raise ValueError(f"efficientnet: variant must be one of {', '.join(known)} or (width, depth), got {variant!r}")
    if output_stride not in (8, 16, 32):
        raise ValueError(f"efficientnet: output_stride must be 8, 16 or 32, got {output_stride}")
    width, depth = known[variant] if isinstance(variant, str) else (float(v) for v in variant)
    lite = variant in LITE_VARIANTS if lite is None else lite
    activation = activation or ("relu6" if lite else "swish")
    x = layers.Conv2D(32 if lite else round_filters(32, width), 3, strides=2, padding="same", use_bias=False,
                      kernel_initializer=CONV_INIT, name="stem_conv")(inputs)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.Activation(activation, name="stem_activation")(x)

    # Each stride's feature map is the output of the last block at that resolution (of the whole stage).
    features, nominal, stride, dilation, b = {}, 2, 2, 1, 0
    repeats = stage_repeats(depth, lite)
    total = sum(repeats)
    for i, (kernel, _, _, f_out, expand, first_stride) in enumerate(STAGES):
        f_out = round_filters(f_out, width)
        for j in range(repeats[i]):
            strides, block_dilation = (first_stride if j == 0 else 1), dilation
            if strides == 2 and stride == output_stride:  # dilate the following blocks instead of downsampling
                strides, dilation = 1, dilation * 2
            if j == 0 and first_stride == 2:
                features[nominal], nominal = x, nominal * 2
            x = mbconv(x, filters_in=x.shape[-1], filters_out=f_out, kernel_size=kernel,
                       strides=strides, expand_ratio=expand, dilation=block_dilation, se_ratio=0.0 if lite else 0.25,
                       drop_rate=drop_connect_rate * b / total, activation=activation,
                       name=f"block{i + 1}{chr(j + 97)}_")
            stride, b = stride * strides, b + 1
    if not top:
        features[32] = x
        return features
    x = layers.Conv2D(1280 if lite else round_filters(1280, width), 1, padding="same", use_bias=False,
                      kernel_initializer=CONV_INIT,
                      name="top_conv")(x)
    x = layers.BatchNormalization(name="top_bn")(x)
    features[32] = layers.Activation(activation, name="top_activation")(x)
    return features


def weights_filename(variant: str = "b0") -> str:
    """Name of the official no-top weights file (`efficientnetb0_notop.h5`)."""
    return f"efficientnet{variant}_notop.h5"


def variant_of(model) -> str:
    """Which EfficientNet variant `model` contains, from its block count, last block's width and SE gates."""
    names = {layer.name for layer in model.layers}
    if "block7a_project_conv" not in names:
        raise ValueError(f"{model.name}: no EfficientNet encoder (no layer 'block7a_project_conv')")
    blocks = sum(n.startswith("block") and n.endswith("_project_conv") for n in names)
    last = model.get_layer("block7a_project_conv").filters
    lite = "block7a_se_excite" not in names
    for variant, (width, depth) in (LITE_VARIANTS if lite else VARIANTS).items():
        if (blocks, last) == (sum(stage_repeats(depth, lite)), round_filters(320, width)):
            return variant
    raise ValueError(f"{model.name}: {blocks} blocks ending with {last} channels match no EfficientNet variant "
                     f"({', '.join(VARIANTS)}, {', '.join(LITE_VARIANTS)})")


def reference_model(variant: str = "b0", weights=None, input_shape=(224, 224, 3)):
    """The `keras.applications` EfficientNet (no top) that our encoder mirrors; `weights` a path or None."""
    builder = getattr(keras.applications, f"EfficientNet{variant.upper()}")
    return builder(include_top=False, weights=weights, input_shape=input_shape)


def imagenet_file(variant: str = "b0", path=None, channels: int = 3):
    """The local ImageNet weights file for `variant` (see `load_imagenet`); checks first that the input is RGB."""
    if variant.startswith("lite"):
        raise ValueError(f"EfficientNet-{variant.capitalize()} has no ImageNet weights here: keras.applications has "
                         "no Lite model (TF publishes Lite as TF1 checkpoints and .tflite only); use encoder_weights=None")
    if channels != 3:
        raise ValueError(f"ImageNet weights need 3 input channels (RGB), the model has {channels}")
    if variant not in VARIANTS:
        raise ValueError(f"ImageNet weights exist for EfficientNet {', '.join(VARIANTS)}, not {variant!r}")
    filename = weights_filename(variant)
    return weights_file(filename, path)


def load_imagenet(model, path=None, variant: str | None = None) -> int:
    """Copy the official ImageNet weights into the EfficientNet encoder inside `model`; returns layers copied.

    `path`: the `efficientnet{variant}_notop.h5` file or its folder; default the Keras cache, downloaded
    there on first use (offline, a missing file raises `zoo.models.pretrained.WeightsNotFound` with its
    URL). The file's Normalization statistics are checked against `INPUT_NORMALIZATION`.
    """
    if variant is None:  # a Lite encoder (no SE gates) of any size is refused by imagenet_file
        variant = variant_of(model) if "block7a_se_excite" in {layer.name for layer in model.layers} else "lite"
    file = imagenet_file(variant, path, model.input_shape[-1])
    reference = reference_model(variant)
    try:
        reference.load_weights(str(file))
    except (OSError, ValueError) as err:
        raise ValueError(f"{file}: not a Keras EfficientNet-{variant.upper()} no-top weights file "
                         f"({str(err).splitlines()[0]})") from None
    norm = next(layer for layer in reference.layers if isinstance(layer, layers.Normalization))
    mean, variance = (np.asarray(w).ravel() for w in norm.get_weights()[:2])
    # The file stores the standard deviation where a variance belongs (tensorflow/tensorflow#49930).
    if not (np.allclose(mean, INPUT_NORMALIZATION["mean"], atol=1e-4)
            and np.allclose(variance, INPUT_NORMALIZATION["std"], atol=1e-4)):
        raise ValueError(f"{file}: input statistics mean {mean.round(4).tolist()}, variance "
                         f"{variance.round(4).tolist()} differ from INPUT_NORMALIZATION {INPUT_NORMALIZATION}")
    # Skip the input statistics, and top_conv / top_bn when the encoder stops at the last block.
    has_top = "top_conv" in {layer.name for layer in model.layers}
    skip = {norm.name} | (set() if has_top else {"top_conv", "top_bn"})
    return copy_weights(model, reference, lambda name: None if name in skip else name)
