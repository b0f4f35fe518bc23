"""Xception (Chollet, CVPR 2017) as a flat encoder of built-in, tfmot-ready layers.

Layer for layer `keras.applications.Xception(include_top=False)`: `block1_conv1`, `block1_conv1_bn`,
`block1_conv1_act`, ..., `block13_sepconv2_bn`, `block13_pool`, `block14_sepconv2_act`, with SeparableConv2D
layers (tfmot's default 8-bit registry quantizes them; the converter writes DEPTHWISE_CONV_2D + CONV_2D),
Keras' BatchNorm defaults (epsilon 1e-3) and no biases. Keras leaves the four residual 1x1 convs and
their BatchNorms unnamed (`conv2d_3`, `batch_normalization_1`, ...); ours are `block{2,3,4,13}_residual_conv`
/ `_bn`, and `load_imagenet` maps them by their (distinct) channel counts. The residual adds are
`block{n}_add`. Input: `(x - 0.5) / 0.5` on [0, 1] pixels (`INPUT_NORMALIZATION`), Keras' `x / 127.5 - 1`.

One deliberate difference: Keras' two stem convs are unpadded ("valid"), so a 256 input gives 127, 125,
63, ... pixel maps. For segmentation the default `stem_padding="same"` pads them (the weights are the
same), giving maps of exactly H / stride, as segmentation_models_pytorch's Xception encoder does;
`stem_padding="valid"` is Keras' graph exactly (the equivalence test uses it).

Features by stride (smp's taps): 2 `block1_conv2_act` (64 channels), 4 `block2_add` (128), 8 `block3_add`
(256), 16 `block12_add` (728), 32 `block14_sepconv2_act` (2048). `output_stride` 16 (8) keeps block 13
(and 4) at stride 1 (max-pool stride 1, 1x1 residual stride 1) and dilates the separable convs after it
by 2 (4), as DeepLab does. `width` scales every channel count (no ImageNet weights unless 1.0).
"""
from __future__ import annotations

import tf_keras as keras

from zoo.models.blocks import scaled
from zoo.models.pretrained import copy_weights, weights_file

layers = keras.layers

# Keras' Xception preprocessing ("tf" mode, [0, 255] -> [-1, 1]) in [0, 1] pixel units.
INPUT_NORMALIZATION = {"mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)}

WEIGHTS_FILE = "xception_weights_tf_dim_ordering_tf_kernels_notop.h5"

# Blocks with a strided 1x1 residual conv: block -> (first, second separable conv channels); the residual
# conv outputs the second. Blocks 5..12 (middle flow) are three 728-channel separable convs each.
DOWNSAMPLE_BLOCKS = {2: (128, 128), 3: (256, 256), 4: (728, 728), 13: (728, 1024)}
MIDDLE_BLOCKS = range(5, 13)
TAPS = {2: "block1_conv2_act", 4: "block2_add", 8: "block3_add", 16: "block12_add", 32: "block14_sepconv2_act"}


def sepconv_bn(x, filters: int, name: str, *, dilation: int = 1, relu_before: bool = True):
    """[ReLU `{name}_act` ->] 3x3 SeparableConv2D `{name}` (no bias) -> BatchNorm `{name}_bn` (Keras' order)."""
    if relu_before:
        x = layers.Activation("relu", name=f"{name}_act")(x)
    x = layers.SeparableConv2D(filters, 3, padding="same", dilation_rate=dilation, use_bias=False, name=name)(x)
    return layers.BatchNormalization(name=f"{name}_bn")(x)


def downsample_block(x, filters: tuple[int, int], block: int, *, stride: int = 2, dilation: int = 1):
    """Two separable convs, 3x3 max-pool (stride 2, or 1 when dilated), plus a strided 1x1 conv + BN residual."""
    residual = layers.Conv2D(filters[1], 1, strides=stride, padding="same", use_bias=False,
                             name=f"block{block}_residual_conv")(x)
    residual = layers.BatchNormalization(name=f"block{block}_residual_bn")(residual)
    x = sepconv_bn(x, filters[0], f"block{block}_sepconv1", dilation=dilation, relu_before=block != 2)
    x = sepconv_bn(x, filters[1], f"block{block}_sepconv2", dilation=dilation)
    x = layers.MaxPooling2D(3, strides=stride, padding="same", name=f"block{block}_pool")(x)
    return layers.Add(name=f"block{block}_add")([x, residual])


def middle_block(x, filters: int, block: int, *, dilation: int = 1):
    """Middle flow: three ReLU -> separable conv -> BN, plus the identity."""
    residual = x
    for k in (1, 2, 3):
        x = sepconv_bn(x, filters, f"block{block}_sepconv{k}", dilation=dilation)
    return layers.Add(name=f"block{block}_add")([x, residual])


def xception(inputs, *, output_stride: int = 32, width: float = 1.0, stem_padding: str = "same") -> dict:
    """Xception features of `inputs` keyed by stride {2, 4, 8, 16, 32} (zoo/encoders convention)."""
    if output_stride not in (8, 16, 32):
        raise ValueError(f"xception: output_stride must be 8, 16 or 32, got {output_stride}")
    if stem_padding not in ("same", "valid"):
        raise ValueError(f"xception: stem_padding must be 'same' or 'valid', got {stem_padding!r}")
    ch = lambda f: scaled(f, width)  # noqa: E731
    x = inputs
    for k, (filters, strides) in enumerate(((32, 2), (64, 1)), start=1):
        x = layers.Conv2D(ch(filters), 3, strides=strides, padding=stem_padding, use_bias=False,
                          name=f"block1_conv{k}")(x)
        x = layers.BatchNormalization(name=f"block1_conv{k}_bn")(x)
        x = layers.Activation("relu", name=f"block1_conv{k}_act")(x)
    features, stride, dilation = {2: x}, 2, 1
    for block in (2, 3, 4, *MIDDLE_BLOCKS, 13):
        if block in DOWNSAMPLE_BLOCKS:
            step = 1 if stride == output_stride else 2
            x = downsample_block(x, tuple(ch(f) for f in DOWNSAMPLE_BLOCKS[block]), block, stride=step,
                                 dilation=dilation)
            stride, dilation = stride * step, dilation * (2 // step)
        else:
            x = middle_block(x, ch(728), block, dilation=dilation)
        if block in (2, 3, 12):
            features[{2: 4, 3: 8, 12: 16}[block]] = x
    x = sepconv_bn(x, ch(1536), "block14_sepconv1", dilation=dilation, relu_before=False)
    x = layers.Activation("relu", name="block14_sepconv1_act")(x)
    x = sepconv_bn(x, ch(2048), "block14_sepconv2", dilation=dilation, relu_before=False)
    features[32] = layers.Activation("relu", name="block14_sepconv2_act")(x)
    return features


def keras_reference(input_shape=(299, 299, 3), weights=None):
    """`keras.applications.Xception(include_top=False)`, the model our encoder mirrors."""
    return keras.applications.Xception(include_top=False, weights=weights, input_shape=tuple(input_shape))


def keras_name_map(reference) -> dict:
    """Reference layer name -> ours: the same, except Keras' unnamed residual convs and BNs (by channel count)."""
    block_of = {f[1]: block for block, f in DOWNSAMPLE_BLOCKS.items()}
    names = {}
    for layer in reference.layers:
        if not layer.get_weights():
            continue
        if layer.name.startswith("block"):
            names[layer.name] = layer.name
        elif isinstance(layer, layers.Conv2D):
            names[layer.name] = f"block{block_of[layer.filters]}_residual_conv"
        elif isinstance(layer, layers.BatchNormalization):
            names[layer.name] = f"block{block_of[layer.get_weights()[0].shape[0]]}_residual_bn"
    return names


def load_imagenet(model, path=None) -> int:
    """Copy the official ImageNet weights into the Xception layers of `model`; returns the layers copied.

    `path`: the `.h5` file or its folder; None or "imagenet" takes it from the Keras cache, downloading it
    there on first use (offline, a missing file raises `zoo.models.pretrained.WeightsNotFound` in one line).
    Needs `width=1.0` and RGB input.
    """
    channels = model.input_shape[-1]
    if channels != 3:
        raise ValueError(f"{model.name}: ImageNet weights need 3-channel RGB input, the model takes {channels}")
    file = weights_file(WEIGHTS_FILE, path)
    reference = keras_reference()
    reference.load_weights(str(file))
    return copy_weights(model, reference, keras_name_map(reference))
