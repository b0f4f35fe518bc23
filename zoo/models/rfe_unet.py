"""ResNet U-Net with Receptive-Field-Enhanced skips (paper 004: Zarrin & Nikkhah, JADM 2025).

A ResNet-34/50/101 encoder (`zoo.models.encoders.resnet`, ImageNet weights for 50/101), a decoder of stages
"2x2 transposed conv -> conv -> BN -> SiLU", and every skip replaced by an RFE module: YOLOv8's SPPF
on encoder levels i and i+1, the deeper one upsampled x2, concatenated and fused by a C2f (the
spec's reading A). The paper's figures (architecture, RFE) are lost, so these are our choices,
each a builder argument (paper 004):
- `rfe_levels`: encoder strides whose skip gets an RFE (default all four pairs 2/4, 4/8, 8/16,
  16/32); other levels pass the plain encoder map; `()` is the paper's "Base Line" without RFE.
- `rfe_alignment`: "same" (default) feeds RFE_i (at level i's resolution) to the decoder stage of
  that resolution, and a last stage without skip reaches full resolution; "up" upsamples RFE_i once
  more ("upsampled to match the i-th decoder layer") into the stage one resolution finer, so the
  stride-2 pair feeds the full-resolution stage and the stride-16 stage has no skip.
- SPPF keeps its input's channels, C2f (n=1, no shortcut, as YOLOv8's neck) outputs the level's
  channels; decoder widths follow the encoder (R50/101: 1024, 512, 256, 64, 32; R34: 256, 128, 64,
  64, 32), one 3x3 conv per stage ("a convolutional layer"); `decoder_filters` overrides them.
- head: `"sigmoid"` (1 channel, default, as the zoo's losses expect) or the paper's 2-channel `"softmax"`.
YOLOv8's Conv is Conv(no bias) -> BN -> SiLU (Keras "swish"); C2f's split of one 1x1 conv into two
halves is written as two 1x1 convs (the same function; a split would need a TFOpLambda).

Input: RGB, normalised by the data pipeline with `INPUT_NORMALIZATION` (caffe statistics of the Keras
ResNet weights). Layer names: the encoder's are keras.applications' (`conv4_block23_out`);
`rfe{s}_sppf_a_cv1_conv`, `rfe{s}_c2f_m0_cv2_conv`, `dec{s}_up`, `dec{s}_conv`, `head_conv`.
"""
from __future__ import annotations

from typing import Sequence

import tf_keras as keras

from zoo.models.blocks import EdgeUpSampling2D, check_input_shape, conv_bn_act, scaled
from zoo.models.encoders import resnet as resnet_encoder
from zoo.models.encoders.resnet import INPUT_NORMALIZATION
from zoo.models.registry import register_model
from zoo.models.segmentation import build_segmentation_model

layers = keras.layers

STRIDES = (2, 4, 8, 16, 32)
DEPTHS = (18, 34, 50, 101)
# Paper 004 Table 7 "GFLOPs" at 256x256: multiply-accumulates (the R101 - R50 gap is the 17 extra
# conv4 bottlenecks' 4.85 G MACs; paper 004). No parameter counts are given.
PAPER_GMACS = {101: 44.576, 50: 39.701, 34: 9.046}


def conv(x, filters: int, kernel_size: int = 1, *, name: str):
    """YOLOv8 Conv: Conv2D (no bias) -> BatchNorm -> SiLU."""
    return conv_bn_act(x, filters, kernel_size, activation="swish", name=name)


def sppf(x, filters: int, *, pool_size: int = 5, name: str):
    """YOLOv8 SPPF: 1x1 conv to half the channels, three chained stride-1 max-pools, concat of all four, 1x1 conv."""
    hidden = max(1, x.shape[-1] // 2)
    y = [conv(x, hidden, name=f"{name}_cv1")]
    for i in range(3):
        y.append(layers.MaxPooling2D(pool_size, strides=1, padding="same", name=f"{name}_pool{i}")(y[-1]))
    x = layers.Concatenate(name=f"{name}_concat")(y)
    return conv(x, filters, name=f"{name}_cv2")


def c2f(x, filters: int, *, n: int = 1, shortcut: bool = False, name: str):
    """YOLOv8 C2f (e=0.5): two 1x1 halves, n 3x3-3x3 bottlenecks on the second, concat of all, 1x1 conv.

    YOLOv8 computes the halves with one 1x1 conv and a split; two convs of half the outputs are the same function.
    """
    hidden = max(1, filters // 2)
    y = [conv(x, hidden, name=f"{name}_cv1a"), conv(x, hidden, name=f"{name}_cv1b")]
    for i in range(n):
        m = conv(y[-1], hidden, 3, name=f"{name}_m{i}_cv1")
        m = conv(m, hidden, 3, name=f"{name}_m{i}_cv2")
        if shortcut:
            m = layers.Add(name=f"{name}_m{i}_add")([y[-1], m])
        y.append(m)
    x = layers.Concatenate(name=f"{name}_concat")(y)
    return conv(x, filters, name=f"{name}_cv2")


def rfe(fine, coarse, filters: int, *, c2f_n: int = 1, pool_size: int = 5, name: str):
    """RFE (paper 004 section 3.2, reading A): C2f(concat[SPPF(E_i), up2(SPPF(E_i+1))]) -> `filters` channels."""
    a = sppf(fine, fine.shape[-1], pool_size=pool_size, name=f"{name}_sppf_a")
    b = sppf(coarse, coarse.shape[-1], pool_size=pool_size, name=f"{name}_sppf_b")
    b = EdgeUpSampling2D(2, interpolation="nearest", name=f"{name}_up")(b)
    x = layers.Concatenate(name=f"{name}_concat")([a, b])
    return c2f(x, filters, n=c2f_n, name=f"{name}_c2f")


def decoder_stage(x, skip, filters: int, *, name: str):
    """Paper 004 decoder stage: 2x2 stride-2 transposed conv, concat with the skip (if any), 3x3 conv -> BN -> SiLU."""
    x = layers.Conv2DTranspose(filters, 2, strides=2, name=f"{name}_up")(x)
    if skip is not None:
        x = layers.Concatenate(name=f"{name}_concat")([skip, x])
    return conv(x, filters, 3, name=name)


def rfe_unet_decoder(features: dict, *, decoder_filters: Sequence[int] | None = None,
                     rfe_levels: Sequence[int] = (2, 4, 8, 16), rfe_alignment: str = "same", c2f_n: int = 1,
                     pool_size: int = 5, width: float = 1.0):
    """Paper 004's decoder on any encoder's stride-2..32 features: RFE skips, 5 transposed-conv stages to stride 1.

    The `rfe_unet` decoder of `zoo.models.decoders`. `decoder_filters` (strides 16, 8, 4, 2, 1; times `width`)
    default to the encoder's channels at 16, 8, 4, 2 and 32 at full size.
    """
    if rfe_alignment not in ("same", "up"):
        raise ValueError(f"rfe_unet: rfe_alignment must be 'same' or 'up', got {rfe_alignment!r}")
    bad = [s for s in rfe_levels if s not in STRIDES[:-1]]
    if bad:
        raise ValueError(f"rfe_unet: rfe_levels must be among {STRIDES[:-1]} (RFE_i pairs stride i with 2i), got {bad}")
    if decoder_filters is None:
        decoder_filters = [features[s].shape[-1] for s in (16, 8, 4, 2)] + [scaled(32, width)]
    else:
        decoder_filters = [scaled(f, width) for f in decoder_filters]
    if len(decoder_filters) != 5:
        raise ValueError(f"rfe_unet: decoder_filters needs 5 widths (strides 16, 8, 4, 2, 1), got {tuple(decoder_filters)}")

    def skip_from(level: int, filters: int):
        if level not in rfe_levels:
            return features[level]
        return rfe(features[level], features[2 * level], filters, c2f_n=c2f_n, pool_size=pool_size, name=f"rfe{level}")

    x = features[32]
    for stride, filters in zip((16, 8, 4, 2, 1), decoder_filters):
        if rfe_alignment == "same":
            skip = skip_from(stride, filters) if stride >= 2 else None
        elif stride <= 8:  # "up": the pair (2t, 4t) feeds the stage at stride t, upsampled once more
            skip = skip_from(2 * stride, filters)
            skip = EdgeUpSampling2D(2, interpolation="nearest", name=f"skip{2 * stride}_up")(skip)
        else:
            skip = None
        x = decoder_stage(x, skip, filters, name=f"dec{stride}")
    return x


def build_resnet_rfe_unet(*, depth: int = 101, input_shape=(256, 256, 3), num_classes: int = 1,
                          activation: str | None = "sigmoid", head: str | None = None, width: float = 1.0,
                          rfe_levels: Sequence[int] = (2, 4, 8, 16), rfe_alignment: str = "same",
                          decoder_filters: Sequence[int] | None = None, c2f_n: int = 1, pool_size: int = 5,
                          encoder_weights=None, name: str = "resnet_rfe_unet"):
    """ResNet-`depth` U-Net with RFE skips: the `rfe_unet` x `resnet{depth}` pair (module docstring: every choice)."""
    if depth not in DEPTHS:
        raise ValueError(f"{name}: depth must be one of {DEPTHS}, got {depth!r}")
    if head is not None:
        if head not in ("sigmoid", "softmax"):
            raise ValueError(f"{name}: head must be 'sigmoid' or 'softmax', got {head!r}")
        num_classes, activation = (1, "sigmoid") if head == "sigmoid" else (2, "softmax")
    check_input_shape(input_shape, 32, name)
    if encoder_weights is not None:  # find the file before building: a missing file fails fast
        if width != 1.0:
            raise ValueError(f"{name}: encoder_weights need width=1.0 (the pretrained channel counts), got width={width}")
        encoder_weights = resnet_encoder.imagenet_file(depth, None if encoder_weights == "imagenet" else encoder_weights)
    return build_segmentation_model(
        f"resnet{depth}", "rfe_unet", input_shape=input_shape, num_classes=num_classes, activation=activation,
        width=width, encoder_weights=encoder_weights, name=name, encoder_args={"width": width},
        decoder_args={"decoder_filters": decoder_filters, "rfe_levels": rfe_levels, "rfe_alignment": rfe_alignment,
                      "c2f_n": c2f_n, "pool_size": pool_size})


@register_model(paper={"source": "paper 004, Table 7 (GFLOPs = multiply-accumulates at 256x256)",
                       "input_shape": (256, 256, 3), "macs": PAPER_GMACS[101] * 1e9,
                       "macs_by_depth": {d: g * 1e9 for d, g in PAPER_GMACS.items()}},
                input_normalization=INPUT_NORMALIZATION, encoder="resnet101", decoder="rfe_unet",
                small={"depth": 18, "width": 0.125, "rfe_levels": (16,)})
def resnet_rfe_unet(*, depth: int = 101, encoder_weights=None, **kw):
    """ResNet U-Net with RFE skip connections (paper 004); `depth` 34, 50 or 101 (paper's final model; 18 extra);
    other arguments as `build_resnet_rfe_unet`."""
    return build_resnet_rfe_unet(depth=depth, encoder_weights=encoder_weights, **kw)
