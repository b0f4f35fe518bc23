"""MobileNetV3-Large and -Small (Howard et al., ICCV 2019) as flat encoders of built-in, tfmot-ready layers.

The block table, channel rounding (`_depth`), BatchNorm settings and stride-2 padding follow
`keras.applications.MobileNetV3Large/Small` exactly, and every layer with weights has the Keras
name (`Conv`, `expanded_conv_3/expand/BatchNorm`, `expanded_conv_3/squeeze_excite/Conv_1`, ...),
so `load_imagenet` copies the official weights by name. Differences from Keras, all weight-free:
hard-swish and hard-sigmoid are `zoo.models.quantization.HardSwish/HardSigmoid` layers (Keras builds them
from TFOpLambda ops that tfmot refuses), activations have names, and there is no Rescaling layer:
the data pipeline feeds `(x - 0.5) / 0.5` for pixels x in [0, 1] (`INPUT_NORMALIZATION`), which is
Keras' `x / 127.5 - 1` on [0, 255].

`output_stride` 16 or 8 turns the last stride-2 stage(s) into stride 1 with dilation 2 (and 4),
as segmentation_models_pytorch's `make_dilated` does for paper 000's DeepLabV3+.
"""
from __future__ import annotations

import tf_keras as keras

from zoo.models.pretrained import copy_weights, weights_file
from zoo.models.quantization import HardSigmoid, HardSwish

layers = keras.layers

# Keras' MobileNetV3 preprocessing (`Rescaling(1/127.5, offset=-1)` on [0, 255]) in [0, 1] pixel units.
INPUT_NORMALIZATION = {"mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)}

# (expansion, output channels before alpha, kernel, stride, squeeze-excite, hard-swish) per block, as Keras.
# kernel None = 5, or 3 when minimalistic.
LARGE_BLOCKS = (
    (1, 16, 3, 1, False, False), (4, 24, 3, 2, False, False), (3, 24, 3, 1, False, False),
    (3, 40, None, 2, True, False), (3, 40, None, 1, True, False), (3, 40, None, 1, True, False),
    (6, 80, 3, 2, False, True), (2.5, 80, 3, 1, False, True), (2.3, 80, 3, 1, False, True),
    (2.3, 80, 3, 1, False, True), (6, 112, 3, 1, True, True), (6, 112, 3, 1, True, True),
    (6, 160, None, 2, True, True), (6, 160, None, 1, True, True), (6, 160, None, 1, True, True),
)
SMALL_BLOCKS = (
    (1, 16, 3, 2, True, False), (72 / 16, 24, 3, 2, False, False), (88 / 24, 24, 3, 1, False, False),
    (4, 40, None, 2, True, True), (6, 40, None, 1, True, True), (6, 40, None, 1, True, True),
    (3, 48, None, 1, True, True), (3, 48, None, 1, True, True), (6, 96, None, 2, True, True),
    (6, 96, None, 1, True, True), (6, 96, None, 1, True, True),
)
VARIANTS = {"large": LARGE_BLOCKS, "small": SMALL_BLOCKS}


def _depth(v, divisor=8):
    """Keras/TF-slim channel rounding: nearest multiple of 8, never below 90 % of v."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def _activation(x, hard_swish: bool, name: str):
    return HardSwish(name=f"{name}hard_swish")(x) if hard_swish else layers.ReLU(name=f"{name}relu")(x)


def _bn(x, name: str):
    return layers.BatchNormalization(epsilon=1e-3, momentum=0.999, name=name)(x)


def _stride2_pad(x, kernel: int, name: str):
    """Keras' `correct_pad`: the asymmetric zero padding TF-slim's stride-2 'same' convs use."""
    h, w = x.shape[1:3]
    k = kernel // 2
    return layers.ZeroPadding2D(((k - (1 - h % 2), k), (k - (1 - w % 2), k)), name=name)(x)


def squeeze_excite(x, channels: int, prefix: str):
    """GAP -> 1x1 conv (channels/4) -> ReLU -> 1x1 conv -> hard-sigmoid -> multiply (Keras `_se_block`)."""
    s = layers.GlobalAveragePooling2D(keepdims=True, name=f"{prefix}squeeze_excite/AvgPool")(x)
    s = layers.Conv2D(_depth(channels * 0.25), 1, name=f"{prefix}squeeze_excite/Conv")(s)
    s = layers.ReLU(name=f"{prefix}squeeze_excite/Relu")(s)
    s = layers.Conv2D(channels, 1, name=f"{prefix}squeeze_excite/Conv_1")(s)
    s = HardSigmoid(name=f"{prefix}squeeze_excite/hard_sigmoid")(s)
    return layers.Multiply(name=f"{prefix}squeeze_excite/Mul")([x, s])


def inverted_residual(x, expansion: float, filters: int, kernel: int, stride: int, se: bool, hard_swish: bool,
                      block_id: int, dilation: int = 1):
    """Expand 1x1 -> depthwise kxk (stride or dilation) -> optional SE -> project 1x1, residual when shapes agree."""
    prefix = f"expanded_conv_{block_id}/" if block_id else "expanded_conv/"
    infilters = x.shape[-1]
    shortcut = x
    if block_id:
        x = layers.Conv2D(_depth(infilters * expansion), 1, use_bias=False, name=f"{prefix}expand")(x)
        x = _activation(_bn(x, f"{prefix}expand/BatchNorm"), hard_swish, f"{prefix}expand/")
    if stride == 2:
        x = _stride2_pad(x, kernel, f"{prefix}depthwise/pad")
    x = layers.DepthwiseConv2D(kernel, strides=stride, padding="valid" if stride == 2 else "same",
                               dilation_rate=dilation, use_bias=False, name=f"{prefix}depthwise")(x)
    x = _activation(_bn(x, f"{prefix}depthwise/BatchNorm"), hard_swish, f"{prefix}depthwise/")
    if se:
        x = squeeze_excite(x, x.shape[-1], prefix)
    x = layers.Conv2D(filters, 1, use_bias=False, name=f"{prefix}project")(x)
    x = _bn(x, f"{prefix}project/BatchNorm")
    if stride == 1 and infilters == filters:
        x = layers.Add(name=f"{prefix}Add")([shortcut, x])
    return x


def mobilenetv3(inputs, *, variant: str = "large", alpha: float = 0.75, minimalistic: bool = False,
                output_stride: int = 32) -> dict:
    """MobileNetV3 features of `inputs` keyed by stride {2, 4, 8, 16, 32} (zoo/encoders convention).

    Key 32 is the 1x1 `Conv_1` output (6 x the last block's channels, hard-swish), the ASPP input.
    With `output_stride` 16 (8) the deeper keys hold stride-16 (8) maps of dilated stages.
    """
    if variant not in VARIANTS:
        raise ValueError(f"MobileNetV3 variant must be one of {sorted(VARIANTS)}, got {variant!r}")
    if output_stride not in (8, 16, 32):
        raise ValueError(f"output_stride must be 8, 16 or 32, got {output_stride}")
    hard_swish = not minimalistic
    x = layers.Conv2D(16, 3, strides=2, padding="same", use_bias=False, name="Conv")(inputs)
    x = _activation(_bn(x, "Conv/BatchNorm"), hard_swish, "Conv/")
    features, stride, dilation = {2: x}, 2, 1
    for block_id, (expansion, channels, kernel, s, se, hs) in enumerate(VARIANTS[variant]):
        if s == 2:
            features[stride] = x  # the last map at this stride
            if stride * 2 > output_stride:
                s, dilation = 1, dilation * 2
            stride *= 2
        kernel = kernel or (3 if minimalistic else 5)
        x = inverted_residual(x, expansion, _depth(channels * alpha), kernel, s, se and not minimalistic,
                              hs and not minimalistic, block_id, dilation)
    x = layers.Conv2D(_depth(x.shape[-1] * 6), 1, use_bias=False, name="Conv_1")(x)
    features[32] = _activation(_bn(x, "Conv_1/BatchNorm"), hard_swish, "Conv_1/")
    return features


def keras_reference(variant: str = "large", *, alpha: float = 0.75, minimalistic: bool = False, input_shape=None,
                    weights=None):
    """The `keras.applications` MobileNetV3 our encoder mirrors (no top, with its [0, 255] preprocessing)."""
    cls = keras.applications.MobileNetV3Large if variant == "large" else keras.applications.MobileNetV3Small
    return cls(input_shape=input_shape, alpha=alpha, minimalistic=minimalistic, include_top=False, weights=weights,
               include_preprocessing=True)


def imagenet_filename(variant: str = "large", alpha: float = 0.75, minimalistic: bool = False) -> str:
    """Name of the official no-top weights file, as `keras.applications` caches it."""
    return f"weights_mobilenet_v3_{variant}{'_minimalistic' if minimalistic else ''}_224_{alpha}_float_no_top_v2.h5"


def load_imagenet(model, path=None, *, variant: str = "large", alpha: float = 0.75, minimalistic: bool = False) -> int:
    """Copy official ImageNet weights into the MobileNetV3 layers of `model`; returns the layers copied.

    `path`: the .h5 file or its folder; None or "imagenet" takes it from the Keras cache, downloading
    it there on first use (`zoo.models.pretrained.weights_file`). A 1-channel model gets the stem kernel
    summed over RGB (a grey image is R = G = B).
    """
    name = imagenet_filename(variant, alpha, minimalistic)
    official = (alpha in (0.75, 1.0) and not minimalistic) or alpha == 1.0
    if not official:
        raise ValueError(f"no ImageNet weights for MobileNetV3-{variant} alpha {alpha}"
                         f"{' minimalistic' if minimalistic else ''} (Keras has alpha 0.75 and 1.0; minimalistic 1.0 only)")
    file = weights_file(name, path)
    reference = keras_reference(variant, alpha=alpha, minimalistic=minimalistic, input_shape=(224, 224, 3),
                                weights=None)
    reference.load_weights(str(file))
    grey = model.get_layer("Conv").get_weights()[0].shape[2] == 1
    copied = copy_weights(model, reference, lambda n: None if grey and n == "Conv" else n)
    if grey:
        model.get_layer("Conv").set_weights([reference.get_layer("Conv").get_weights()[0].sum(2, keepdims=True)])
        copied += 1
    return copied


def apply_encoder_weights(model, encoder_weights, **variant) -> None:
    """Builders' `encoder_weights` argument: None keeps random weights, "imagenet" or a path loads them."""
    if encoder_weights is not None:
        load_imagenet(model, encoder_weights, **variant)
