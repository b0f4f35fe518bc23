"""U-Net and Half U-Net as written in paper 002 (Lee & Jhang, Sensors 2021, 21, 7030, Eqs. 4-9).

Stages are numbered as in the paper: 0-4 encoder (4 = bottleneck), 5-8 decoder; decoder stage
`8 - i` pairs with encoder stage `i`. Half U-Net keeps stages 0, 1, 4 (bottleneck with fewer
channels) and 7, 8. Upsampling is nearest-neighbour; the head is a 1x1 conv and a sigmoid.

Our choices where the paper is silent (its channel counts are only in its figures):
- Channels per stage are chosen to approach Table 4's parameter counts at 512x512x3
  (see `UNET_FILTERS`, `HALF_UNET_FILTERS` and README "Models").
- `batch_norm=True`: BatchNorm after every conv (not in the paper; needed for stable training and
  folded away at export).
- `relu_each_conv=True`: ReLU after both convs of a stage (textbook U-Net). The paper's equations
  put one ReLU after two stacked convs (first conv linear); pass `relu_each_conv=False` for that.

Layer names: `stage{i}_{1,2}_{conv,bn,relu}`, `pool{i}`, `stage{i}_up`, `stage{i}_concat`, `head_conv`.

Also here: `encoder_unet_decoder`, a U-Net decoder for any encoder of `zoo/encoders`, and
`unet_mobilenetv3` (paper 000's comparison U-Net on MobileNetV3-Large 0.75).
"""
from __future__ import annotations

from typing import Sequence

import tf_keras as keras

from zoo.models.blocks import EdgeUpSampling2D, check_input_shape, conv_bn_act, scaled, segmentation_head, upsample_concat
from zoo.models.encoders import mobilenetv3
from zoo.models.registry import Stages, register_model
from zoo.models.segmentation import build_segmentation_model

# Channels per encoder stage, bottleneck last (decoder stages mirror their encoder partner).
UNET_FILTERS = (54, 108, 216, 432, 864)  # fitted to Table 4 by a grid search
HALF_UNET_FILTERS = (60, 120, 256)

_PAPER = {"source": "paper 002, Table 4", "input_shape": (512, 512, 3)}

# The histogram tool's reading of the stages (zoo.tools.histograms): `stage{i}_{1,2}_conv` is stage i, branch conv1/2.
UNET_LAYERS = ((r"stage(\d+)_(\d+)_conv", "stage{0}", "conv{1}"),)
UNET_STAGES = Stages(tuple(range(9)), UNET_LAYERS, smaller="half_unet", drops=(2, 3, 5, 6),
                     reason="the kernels of U-Net's later encoder stages approached zero (Fig. 11)")
HALF_UNET_STAGES = Stages((0, 1, 4, 7, 8), UNET_LAYERS, drops=(1, 7),
                          reason="The next cut keeps stages 0, 4 and 8 (as Quarter MultiResUNet does); the zoo has no "
                                 "such U-Net, and the paper did not build one. Keep `half_unet` or add a quarter U-Net "
                                 "builder.")


def unet_stage(x, filters: int, *, stage: int, batch_norm: bool, relu_each_conv: bool):
    """Two 3x3 convs; the stage output is ReLU-activated (paper 002 Eq. 4)."""
    x = conv_bn_act(x, filters, 3, activation="relu" if relu_each_conv else None, batch_norm=batch_norm,
                    name=f"stage{stage}_1")
    return conv_bn_act(x, filters, 3, batch_norm=batch_norm, name=f"stage{stage}_2")


def build_encoder_decoder(model_name: str, stage_fn, filters: Sequence[int], encoder_stages: Sequence[int], *,
                          input_shape, num_classes: int, activation: str | None, width: float, stem_fn=None,
                          skip_fn=None, upsample: str = "nearest"):
    """Generic paper-002 U shape: encoder stages with 2x2 max-pooling, a bottleneck, mirrored decoder.

    `encoder_stages` are the paper's stage numbers, bottleneck last (e.g. (0, 1, 4) for Half);
    decoder stage `8 - i` pairs with encoder stage `i`. `stage_fn(x, filters, stage=)` builds one
    stage, `stem_fn(x)` runs before the first stage, `skip_fn(x, filters, level=)` transforms a skip.
    `upsample` is the decoder's interpolation: "nearest" (paper) or "bilinear" (trains under XLA).
    """
    if len(filters) != len(encoder_stages):
        raise ValueError(f"{model_name}: need one filter count per encoder stage {tuple(encoder_stages)}, "
                         f"got {tuple(filters)}")
    filters = [scaled(f, width) for f in filters]
    depth = len(encoder_stages) - 1
    h, w, c = check_input_shape(input_shape, 2 ** depth, model_name)
    inputs = keras.Input((h, w, c), name="image")
    x = stem_fn(inputs) if stem_fn else inputs

    skips = []
    for level, (stage, f) in enumerate(zip(encoder_stages, filters)):
        if level > 0:
            x = keras.layers.MaxPooling2D(2, name=f"pool{encoder_stages[level - 1]}")(x)
        x = stage_fn(x, f, stage=stage)
        skips.append((stage, f, x))

    for level in reversed(range(depth)):
        stage, f, skip = skips[level]
        if skip_fn:
            skip = skip_fn(skip, f, level=stage)
        x = upsample_concat(skip, x, name=f"stage{8 - stage}", interpolation=upsample)
        x = stage_fn(x, f, stage=8 - stage)

    outputs = segmentation_head(x, num_classes, activation)
    return keras.Model(inputs, outputs, name=model_name)


def _unet(model_name, filters, encoder_stages, *, input_shape=(256, 256, 3), num_classes=1, activation="sigmoid",
          width=1.0, batch_norm=True, relu_each_conv=True, upsample="nearest"):
    def stage_fn(x, f, *, stage):
        return unet_stage(x, f, stage=stage, batch_norm=batch_norm, relu_each_conv=relu_each_conv)

    return build_encoder_decoder(model_name, stage_fn, filters, encoder_stages, input_shape=input_shape,
                                 num_classes=num_classes, activation=activation, width=width, upsample=upsample)


@register_model(paper={**_PAPER, "params": 21.9776e6, "flops": 329.7e9}, stages=UNET_STAGES,
                small={"filters": (8, 16, 32, 64, 128)})  # small: the same graph at about 1/7 of the channels
def unet(*, filters=UNET_FILTERS, **kw):
    """U-Net (paper 002 Eqs. 4-6): stages 0-4 with four poolings, decoder stages 5-8."""
    return _unet("unet", filters, (0, 1, 2, 3, 4), **kw)


@register_model(paper={**_PAPER, "params": 1.7724e6, "flops": 204.0e9}, stages=HALF_UNET_STAGES)
def half_unet(*, filters=HALF_UNET_FILTERS, **kw):
    """Half U-Net (paper 002 Eqs. 7-9): stages 0, 1 and a narrower bottleneck 4; decoder stages 7, 8."""
    return _unet("half_unet", filters, (0, 1, 4), **kw)


# --- U-Net decoder on a pretrained encoder (paper 000's comparison U-Net; smp `Unet`) ---------------

ENCODER_UNET_CHANNELS = (256, 128, 64, 32, 16)  # smp's default decoder_channels, paper 000's U-Net rows


def encoder_unet_decoder(features: dict, decoder_channels: Sequence[int] = ENCODER_UNET_CHANNELS, *,
                         batch_norm: bool = True, width: float = 1.0, name: str = "decoder"):
    """U-Net decoder over encoder features keyed by stride (zoo/encoders convention, output_stride 32).

    From the deepest map, each of the len(decoder_channels) blocks upsamples x2 (nearest), concatenates
    the encoder map of that stride when there is one, and applies two 3x3 conv -> BN -> ReLU
    (smp `UnetDecoder`, no centre block; channels times `width`). Five blocks end at full resolution.
    Layers: `{name}{i}_up`, `{name}{i}_concat`, `{name}{i}_{1,2}_{conv,bn,relu}`. The `unet` decoder of
    `zoo.models.decoders` (its head is a 3x3 conv, as smp's).
    """
    deepest = max(features)
    x = features[deepest]
    stride = deepest
    for i, f in enumerate(decoder_channels):
        f = scaled(f, width)
        stride //= 2
        x = EdgeUpSampling2D(2, interpolation="nearest", name=f"{name}{i}_up")(x)
        if stride in features:
            x = keras.layers.Concatenate(name=f"{name}{i}_concat")([x, features[stride]])
        x = conv_bn_act(x, f, 3, batch_norm=batch_norm, name=f"{name}{i}_1")
        x = conv_bn_act(x, f, 3, batch_norm=batch_norm, name=f"{name}{i}_2")
    return x


@register_model(paper={"source": "paper 000 (Jeong et al. 2023), Table 4 'U-Net MobileNetV3'",
                       "input_shape": (288, 384, 3), "params": 4_886_049, "macs": 4.795e9,
                       "note": "paper prints 18.64 'M' = fp32 MiB of 4,886,049 parameters"},
                input_normalization=mobilenetv3.INPUT_NORMALIZATION, encoder="mobilenetv3_large", decoder="unet",
                small={"variant": "small", "minimalistic": True, "decoder_channels": (32, 16, 16, 8, 8)})
def unet_mobilenetv3(*, input_shape=(288, 384, 3), num_classes=1, activation="sigmoid", width=1.0, variant="large",
                     alpha=0.75, minimalistic=False, decoder_channels=ENCODER_UNET_CHANNELS, encoder_weights=None):
    """U-Net decoder on MobileNetV3 (paper 000's comparison model): skips at strides 16, 8, 4, 2.

    The `unet` x `mobilenetv3_large` pair at alpha 0.75. `decoder_channels` per block (times `width`),
    a 3x3 head conv as smp's; encoder arguments and `encoder_weights` (None, "imagenet" or a path) as
    `deeplabv3plus_mobilenetv3`.
    """
    return build_segmentation_model(
        "mobilenetv3_large", "unet", input_shape=input_shape, num_classes=num_classes, activation=activation,
        width=width, encoder_weights=encoder_weights, name="unet_mobilenetv3",
        encoder_args={"variant": variant, "alpha": alpha, "minimalistic": minimalistic},
        decoder_args={"decoder_channels": decoder_channels})
