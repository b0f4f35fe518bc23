"""ResNet-18/34/50/101 encoders (He et al., CVPR 2016), v1, as one flat graph of built-in layers.

- ResNet-50/101 (bottleneck blocks) are `keras.applications.ResNet50/101(include_top=False)` layer for
  layer, with the same names (`conv1_conv`, `conv2_block1_0_conv`, ..., `conv5_block3_out`), so
  `load_imagenet` copies the official weights by name. Their convs keep Keras' biases (the weights
  file has them) and BatchNorm epsilon 1.001e-5 (momentum 0.9, the zoo's choice for short runs; inference
  is unaffected).
- ResNet-18/34 (basic blocks, torchvision's layout: 3x3 -> 3x3, 1x1 projection shortcut where the
  stride or width changes, convs without bias) use the same naming scheme. Keras ships no weights for
  them, so `load_imagenet` refuses them in one line.

Features by stride (`resnet(...)` returns them): 2 `conv1_relu`, 4 `conv2_block{n}_out`,
8 `conv3_...`, 16 `conv4_...`, 32 `conv5_..._out`. `output_stride=16` or 8 dilates the last stage(s)
instead of striding (as DeepLab does); the weights are unchanged.

Input: RGB in the pipeline's `(x - mean) / std` with `INPUT_NORMALIZATION`. The Keras weights expect
caffe preprocessing (BGR, mean subtracted, 0-255 scale); `(x - mean) / std` with the values below is
exactly that arithmetic, and `copy_from_keras` reverses the first conv's input-channel axis so our
RGB input meets BGR-trained kernels.
"""
from __future__ import annotations

import tf_keras as keras

from zoo.models.pretrained import copy_weights, weights_file

layers = keras.layers

# caffe preprocessing in [0, 1] pixel units, RGB: (x - mean) / std = 255 x - (123.68, 116.779, 103.939).
INPUT_NORMALIZATION = {"mean": (123.68 / 255, 116.779 / 255, 103.939 / 255), "std": (1 / 255, 1 / 255, 1 / 255)}

# depth -> (block kind, blocks per stage conv2..conv5)
DEPTHS = {18: ("basic", (2, 2, 2, 2)), 34: ("basic", (3, 4, 6, 3)),
          50: ("bottleneck", (3, 4, 6, 3)), 101: ("bottleneck", (3, 4, 23, 3))}
STAGE_FILTERS = (64, 128, 256, 512)  # bottleneck blocks output 4x these
BN_EPSILON = 1.001e-5  # keras.applications' value


def _bn(x, name):
    return layers.BatchNormalization(epsilon=BN_EPSILON, momentum=0.9, name=name)(x)


def bottleneck_block(x, filters: int, *, stride: int = 1, dilation: int = 1, project: bool, name: str):
    """ResNet v1 bottleneck (keras.applications `block1`): 1x1 (strided) -> 3x3 -> 1x1 x4, plus shortcut."""
    shortcut = x
    if project:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(x)
        shortcut = _bn(shortcut, f"{name}_0_bn")
    x = layers.Conv2D(filters, 1, strides=stride, name=f"{name}_1_conv")(x)
    x = layers.Activation("relu", name=f"{name}_1_relu")(_bn(x, f"{name}_1_bn"))
    x = layers.Conv2D(filters, 3, padding="same", dilation_rate=dilation, name=f"{name}_2_conv")(x)
    x = layers.Activation("relu", name=f"{name}_2_relu")(_bn(x, f"{name}_2_bn"))
    x = layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    x = _bn(x, f"{name}_3_bn")
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


def basic_block(x, filters: int, *, stride: int = 1, dilation: int = 1, project: bool, name: str):
    """ResNet basic block (ResNet-18/34): 3x3 (strided) -> 3x3, plus an identity or 1x1 projection shortcut."""
    shortcut = x
    if project:
        shortcut = layers.Conv2D(filters, 1, strides=stride, use_bias=False, name=f"{name}_0_conv")(x)
        shortcut = _bn(shortcut, f"{name}_0_bn")
    if stride > 1:  # torchvision pads a strided 3x3 by 1 on every side; "same" would pad (0, 1)
        x = layers.ZeroPadding2D(1, name=f"{name}_1_pad")(x)
    x = layers.Conv2D(filters, 3, strides=stride, padding="valid" if stride > 1 else "same", dilation_rate=dilation,
                      use_bias=False, name=f"{name}_1_conv")(x)
    x = layers.Activation("relu", name=f"{name}_1_relu")(_bn(x, f"{name}_1_bn"))
    x = layers.Conv2D(filters, 3, padding="same", dilation_rate=dilation, use_bias=False, name=f"{name}_2_conv")(x)
    x = _bn(x, f"{name}_2_bn")
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


def resnet(inputs, *, depth: int = 50, output_stride: int = 32, width: float = 1.0) -> dict:
    """Add a ResNet-`depth` encoder to the graph of `inputs`; return its feature maps keyed by stride.

    `width` scales every channel count (not loadable with ImageNet weights unless 1.0).
    """
    if depth not in DEPTHS:
        raise ValueError(f"resnet: depth must be one of {sorted(DEPTHS)}, got {depth!r}")
    if output_stride not in (8, 16, 32):
        raise ValueError(f"resnet: output_stride must be 8, 16 or 32, got {output_stride!r}")
    kind, repeats = DEPTHS[depth]
    block = bottleneck_block if kind == "bottleneck" else basic_block
    ch = lambda f: max(1, int(round(f * width)))  # noqa: E731
    bias = kind == "bottleneck"  # keras.applications' convs have biases; torchvision's basic ResNets do not

    x = layers.ZeroPadding2D(3, name="conv1_pad")(inputs)
    x = layers.Conv2D(ch(64), 7, strides=2, use_bias=bias, name="conv1_conv")(x)
    x = layers.Activation("relu", name="conv1_relu")(_bn(x, "conv1_bn"))
    features = {2: x}
    x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)

    stride, dilation = 4, 1
    for stage, (filters, n) in enumerate(zip(STAGE_FILTERS, repeats), start=2):
        step = 1 if stage == 2 else 2
        if stride * step > output_stride:  # dilate instead of striding beyond the output stride
            dilation, step = dilation * step, 1
        stride *= step
        for i in range(1, n + 1):
            project = i == 1 and (stage > 2 or kind == "bottleneck")
            x = block(x, ch(filters), stride=step if i == 1 else 1, dilation=dilation, project=project,
                      name=f"conv{stage}_block{i}")
        features[2 ** stage] = x  # a dilated stage keeps its key; its map stays at output_stride
    return features


def weights_filename(depth: int) -> str:
    """The keras.applications no-top ImageNet weights file of ResNet-`depth`."""
    return f"resnet{depth}_weights_tf_dim_ordering_tf_kernels_notop.h5"


def keras_reference(depth: int, input_shape, weights=None):
    """`keras.applications.ResNet50/101(include_top=False)` at `input_shape` (`weights` None or a file path)."""
    if depth not in (50, 101):
        raise ValueError(f"resnet{depth}: keras.applications has no ResNet-{depth}; only 50 and 101 have ImageNet "
                         "weights here")
    app = keras.applications.ResNet50 if depth == 50 else keras.applications.ResNet101
    return app(include_top=False, weights=None if weights is None else str(weights), input_shape=tuple(input_shape))


def copy_from_keras(model, reference) -> int:
    """Copy a keras.applications ResNet's weights into `model` by layer name, turning the BGR first conv to RGB."""
    copied = copy_weights(model, reference)
    first = model.get_layer("conv1_conv")
    kernel, *rest = first.get_weights()
    first.set_weights([kernel[:, :, ::-1, :], *rest])
    return copied


def imagenet_file(depth: int, path=None):
    """The local ImageNet weights file of ResNet-`depth`: `path` (file or folder) or the Keras cache
    (downloaded there on first use); one-line errors."""
    if depth not in (50, 101):
        raise ValueError(f"resnet{depth}: no ImageNet weights (keras.applications ships ResNet-50 "
                         f"and -101 only); use encoder_weights=None or depth=50/101")
    return weights_file(weights_filename(depth), path)


def load_imagenet(model, path=None, *, depth: int = 50) -> int:
    """Copy the official ImageNet weights of ResNet-`depth` (50 or 101) into `model`'s encoder layers.

    `path`: the `.h5` file or a folder holding it; default the Keras cache (downloaded there on first use).
    The model must take 3-channel RGB input, normalised with `INPUT_NORMALIZATION`. Returns layers copied.
    """
    file = imagenet_file(depth, path)
    channels = model.input_shape[-1]
    if channels != 3:
        raise ValueError(f"{model.name}: ImageNet weights need 3-channel RGB input, the model takes {channels}")
    return copy_from_keras(model, keras_reference(depth, (None, None, 3), weights=file))
