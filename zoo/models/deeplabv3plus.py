"""DeepLabV3+ with a MobileNetV3 encoder (paper 000: Jeong et al., Electronics 2023, 12, 1962).

The paper uses DeepLabV3+ "without modification"; its figures match segmentation_models_pytorch's
`DeepLabV3Plus(encoder="timm-mobilenetv3_large_075")` (paper 000), which this builds:
- encoder MobileNetV3-Large, alpha 0.75, output stride 16 (last stage dilated by 2; 8 dilates two);
- separable ASPP on the stride-16 map: 1x1 conv, three depthwise-3x3 (dilation r) + pointwise
  branches, image pooling; each conv -> BN -> ReLU; concat -> 1x1 conv -> BN -> ReLU -> Dropout 0.5;
  then a separable 3x3 conv -> BN -> ReLU. All decoder convs have `decoder_channels` (256) filters;
- bilinear upsampling to stride 4, concat with the stride-4 features reduced to 48 channels by
  1x1 conv -> BN -> ReLU, one separable 3x3 conv -> BN -> ReLU, a 1x1 head and bilinear x4.
The paper's final rates are 8/22/36 (our default); smp's and the paper's baseline 12/24/36 is
`atrous_rates=(12, 24, 36)`. Upsampling is half-pixel bilinear (PyTorch's used align_corners=True).

Counts at 288x384x3 (paper 000): 3,212,369 trainable parameters (the paper's "6.18 M" is
a size in MiB of another configuration) and 1.576 G conv multiply-accumulates (paper "1.623 GFLOPs",
which adds element-wise ops).

Layer names: the encoder's are Keras' (`expanded_conv_3/expand`, ...); `aspp_{pool,b0,b1,b2,b3}_*`,
`aspp_project_*`, `aspp_sep_*`, `decoder_low_*`, `decoder_fuse_*`, `head_conv`.
"""
from __future__ import annotations

from typing import Sequence

import tf_keras as keras

from zoo.models.blocks import EdgeUpSampling2D, conv_bn_act, scaled
from zoo.models.encoders import mobilenetv3
from zoo.models.registry import register_model
from zoo.models.segmentation import build_segmentation_model

layers = keras.layers

PAPER_ATROUS_RATES = (8, 22, 36)  # paper 000's final choice (Table 7)
SMP_ATROUS_RATES = (12, 24, 36)  # smp's default, the paper's baseline



def separable_conv_bn_relu(x, filters: int, *, dilation: int = 1, name: str):
    """Depthwise 3x3 (dilated) -> pointwise 1x1 -> BN -> ReLU, no biases (smp `SeparableConv2d` + BN + ReLU)."""
    x = layers.DepthwiseConv2D(3, padding="same", dilation_rate=dilation, use_bias=False, name=f"{name}_depthwise")(x)
    return conv_bn_act(x, filters, 1, name=name)


def aspp(x, filters: int = 256, rates: Sequence[int] = PAPER_ATROUS_RATES, *, dropout: float = 0.5, name: str = "aspp"):
    """Separable atrous spatial pyramid pooling: 1x1, one separable branch per rate, and image pooling."""
    h, w = x.shape[1:3]
    branches = [conv_bn_act(x, filters, 1, name=f"{name}_b0")]
    branches += [separable_conv_bn_relu(x, filters, dilation=r, name=f"{name}_b{i + 1}") for i, r in enumerate(rates)]
    pool = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_pool")(x)
    pool = conv_bn_act(pool, filters, 1, name=f"{name}_pool")
    # resizing a 1x1 map: nearest equals bilinear, and is one cheap op in every runtime
    branches.append(EdgeUpSampling2D((h, w), interpolation="nearest", name=f"{name}_pool_up")(pool))
    x = layers.Concatenate(name=f"{name}_concat")(branches)
    x = conv_bn_act(x, filters, 1, name=f"{name}_project")
    x = layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return separable_conv_bn_relu(x, filters, name=f"{name}_sep")


def deeplabv3plus_decoder(features: dict, *, decoder_channels: int = 256, atrous_rates: Sequence[int] = SMP_ATROUS_RATES,
                          low_level_channels: int = 48, dropout: float = 0.5, width: float = 1.0):
    """ASPP on the deepest map, upsampled to stride 4 and fused with the reduced stride-4 features (stride-4 output).

    The `deeplabv3plus` decoder of `zoo.models.decoders` (smp's defaults: rates 12/24/36, 256 channels times `width`);
    the encoder runs at output stride 16 or 8, so `features[32]` is a dilated stride-16 (8) map.
    """
    channels = scaled(decoder_channels, width)
    x = aspp(features[32], channels, atrous_rates, dropout=dropout)
    factor = features[4].shape[1] // features[32].shape[1]
    x = EdgeUpSampling2D(factor, interpolation="bilinear", name="decoder_up")(x)
    low = conv_bn_act(features[4], low_level_channels, 1, name="decoder_low")
    x = layers.Concatenate(name="decoder_concat")([x, low])
    return separable_conv_bn_relu(x, channels, name="decoder_fuse")


@register_model(paper={"source": "paper 000 (Jeong et al. 2023), Tables 4 and 10", "input_shape": (288, 384, 3),
                       "params": 3_212_369, "macs": 1.623e9,
                       "note": "params: a count of the described model (the paper prints 6.18 'M', a MiB size)"},
                input_normalization=mobilenetv3.INPUT_NORMALIZATION, encoder="mobilenetv3_large",
                decoder="deeplabv3plus", small={"variant": "small", "minimalistic": True, "decoder_channels": 32})
def deeplabv3plus_mobilenetv3(*, input_shape=(288, 384, 3), num_classes=1, activation="sigmoid", width=1.0,
                              variant="large", alpha=0.75, minimalistic=False, output_stride=16,
                              atrous_rates=PAPER_ATROUS_RATES, decoder_channels=256, encoder_weights=None):
    """DeepLabV3+ on MobileNetV3 (paper 000's final model by default): the `deeplabv3plus` x `mobilenetv3_large` pair.

    `variant` "large" or "small", `alpha` and `minimalistic` pick the encoder; `output_stride` 16 or 8;
    `atrous_rates` three dilations; `decoder_channels` the width of every decoder conv (times `width`);
    `encoder_weights` None, "imagenet" (Keras cache) or a path to the official .h5 file.
    """
    if output_stride not in (8, 16):
        raise ValueError(f"deeplabv3plus_mobilenetv3: output_stride must be 16 or 8, got {output_stride}")
    if len(atrous_rates) != 3:
        raise ValueError(f"deeplabv3plus_mobilenetv3: atrous_rates needs three dilations, got {tuple(atrous_rates)}")
    return build_segmentation_model(
        "mobilenetv3_large", "deeplabv3plus", input_shape=input_shape, num_classes=num_classes, activation=activation,
        width=width, output_stride=output_stride, encoder_weights=encoder_weights, name="deeplabv3plus_mobilenetv3",
        encoder_args={"variant": variant, "alpha": alpha, "minimalistic": minimalistic},
        decoder_args={"decoder_channels": decoder_channels, "atrous_rates": atrous_rates})
