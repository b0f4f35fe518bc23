"""UNet++ (Zhou et al. 2018) and EfficientUNet++ (paper 003: Yang et al., Comput. Intell. Neurosci. 2021, 9409508).

Both use one nested decoder, `nested_decoder(features, filters, dense=...)`, a function over a
features-by-stride dict (`zoo.models.encoders` convention), so any encoder can sit under it. Node X^{i,j}
(level i = i-th smallest stride, column j >= 1) is two 3x3 Conv -> BN -> ReLU over
- `dense=True` (UNet++): [X^{i,0}, ..., X^{i,j-1}, U(X^{i+1,j-1})], every earlier node of its level;
- `dense=False` (UNet+, paper 003's "improved UNet++ without dense connections", paper 003):
  [X^{i,j-1}, U(X^{i+1,j-1})], its same-level predecessor and the upsampled node below.
U is nearest-neighbour upsampling or a 2x2 stride-2 transposed conv (as wide as the node).

`efficientunetpp` (paper 003; the paper states none of this beyond "EfficientNet + improved UNet++",
6,653,549 trainable parameters, sigmoid head; our choices, paper 003):
- EfficientNet-B0 encoder (the parameter count rules out B2+; B1 would leave almost no decoder),
  its stage outputs at strides 2, 4, 8, 16, 32 as features (16, 24, 40, 112, 320 channels; Keras'
  1x1 `top_conv` is not used), ImageNet-normalised input (`effnet.INPUT_NORMALIZATION`);
- UNet+ decoder, nearest upsampling, node widths `EFFICIENTUNETPP_FILTERS` = (32, 64, 128, 256) at
  strides 2, 4, 8, 16, then one upsampling to full resolution with a 16-channel node (no skip),
  1x1 conv + sigmoid: the widths (256, 128, 64, 32, 16) of the UNet++ authors' backbone decoder
  ("xnet", paper 003). Total 6,603,213 trainable parameters (-0.76 % from the paper's
  6,653,549). With Keras' `top_conv` (1280 channels) at stride 32 the same widths give 9.23 M, and
  the other usual taps (expand activations) 11.6 M, so the paper most likely tapped stage outputs.
`unetpp` (paper 003's UNet++ baseline, 5,223,107 trainable parameters; paper 003): the
original UNet++ (official Keras code): a plain encoder of two-conv stages with 2x2 max-pooling,
filters f, 2f, 4f, 8f, 16f; dense decoder with transposed-conv upsampling. The official f = 32
(9,041,601 parameters for a 1-channel input, reproduced exactly with `batch_norm=False`) is 73 %
over the paper's count; f = 24 (`UNETPP_FILTERS`) gives 5,089,969 trainable parameters at 3 input
channels (-2.5 %). Ours adds BatchNorm after every conv (folded at export; `batch_norm=False`
removes it); the official dropout 0.5 and L2 1e-4 are left out.

Deep supervision (`deep_supervision=True`, `unetpp` only): a 1x1 head on each of X^{0,1..4}; the
four sigmoid maps are averaged into the single output train.py and the exporters expect (UNet++'s
"ensemble" mode), so every head gets gradient through the average. `deep_supervision="separate"`
returns the four maps as separate outputs for a custom training loop (not train.py).

Layer names: node `x{i}_{j}_{1,2}_{conv,bn,relu}`, `x{i}_{j}_up`, `x{i}_{j}_concat`; plain encoder
`x{i}_0_*`, `pool{i}`; final stage `final_up`, `final_{1,2}_*`; `head_conv` (or `head{j}_conv`).
"""
from __future__ import annotations

from typing import Sequence

import tf_keras as keras

from zoo.models.blocks import EdgeUpSampling2D, check_input_shape, conv_bn_act, scaled, supervised_output
from zoo.models.encoders import efficientnet as effnet
from zoo.models.encoders import xception
from zoo.models.registry import register_model
from zoo.models.segmentation import build_segmentation_model

layers = keras.layers

EFFICIENTUNETPP_FILTERS = (32, 64, 128, 256)  # decoder node widths at strides 2, 4, 8, 16
EFFICIENTUNETPP_FINAL_FILTERS = 16  # the full-resolution node after the last upsampling
UNETPP_FILTERS = 24  # base width f of the plain UNet++ (official code: 32)


def conv_block(inputs: list, filters: int, *, batch_norm: bool = True, name: str):
    """H of UNet++: concatenate the inputs (if several), then two 3x3 Conv -> BN -> ReLU."""
    x = layers.Concatenate(name=f"{name}_concat")(inputs) if len(inputs) > 1 else inputs[0]
    x = conv_bn_act(x, filters, 3, batch_norm=batch_norm, name=f"{name}_1")
    return conv_bn_act(x, filters, 3, batch_norm=batch_norm, name=f"{name}_2")


def upsample(x, factor: int, filters: int, *, mode: str, name: str):
    """U of UNet++: `factor`x nearest-neighbour upsampling, or a transposed conv of `filters` channels."""
    if factor == 1:
        return x
    if mode == "transpose":
        return layers.Conv2DTranspose(filters, factor, strides=factor, padding="same", name=name)(x)
    return EdgeUpSampling2D(factor, interpolation="nearest", name=name)(x)


def nested_decoder(features: dict, filters: Sequence[int], *, dense: bool = False, upsampling: str = "nearest",
                   batch_norm: bool = True) -> list:
    """UNet++ / UNet+ nested decoder over `features` keyed by stride; returns the top row X^{0,1..L}.

    `filters[i]` is the width of level i's nodes (level 0 = smallest stride); one per level but the deepest.
    """
    if upsampling not in ("nearest", "transpose"):
        raise ValueError(f"nested_decoder: upsampling must be 'nearest' or 'transpose', got {upsampling!r}")
    strides = sorted(features)
    depth = len(strides) - 1
    if len(filters) != depth:
        raise ValueError(f"nested_decoder: need {depth} decoder widths (strides {strides[:-1]}), got {tuple(filters)}")
    grid = {(i, 0): features[s] for i, s in enumerate(strides)}
    for j in range(1, depth + 1):
        for i in range(depth - j + 1):
            below = grid[i + 1, j - 1]
            factor = grid[i, 0].shape[1] // below.shape[1]  # 1 where a dilated encoder repeats a stride
            up = upsample(below, factor, filters[i], mode=upsampling, name=f"x{i}_{j}_up")
            same_level = [grid[i, k] for k in range(j)] if dense else [grid[i, j - 1]]
            grid[i, j] = conv_block(same_level + [up], filters[i], batch_norm=batch_norm, name=f"x{i}_{j}")
    return [grid[0, j] for j in range(1, depth + 1)]


def plain_encoder(inputs, filters: Sequence[int], *, batch_norm: bool = True) -> dict:
    """UNet++'s own encoder: two-conv stages X^{i,0} with 2x2 max-pooling between; features by stride 1..2^(n-1)."""
    features, x = {}, inputs
    for i, f in enumerate(filters):
        if i:
            x = layers.MaxPooling2D(2, name=f"pool{i - 1}")(x)
        x = conv_block([x], f, batch_norm=batch_norm, name=f"x{i}_0")
        features[2 ** i] = x
    return features


@register_model(paper={"source": "paper 003, Table 6 (UNet++ baseline)", "params": 5_223_107,
                       "params_kind": "trainable", "input_shape": (256, 256, 3)}, small={"depth": 2, "filters": 8})
def unetpp(*, input_shape=(256, 256, 3), num_classes=1, activation="sigmoid", filters=UNETPP_FILTERS, depth=4,
           width=1.0, batch_norm=True, deep_supervision=False):
    """UNet++ (Zhou et al. 2018): plain encoder of widths f * 2^i, dense nested decoder, transposed-conv upsampling."""
    h, w, c = check_input_shape(input_shape, 2 ** depth, "unetpp")
    widths = [scaled(filters * 2 ** i, width) for i in range(depth + 1)]
    inputs = keras.Input((h, w, c), name="image")
    features = plain_encoder(inputs, widths, batch_norm=batch_norm)
    top_row = nested_decoder(features, widths[:-1], dense=True, upsampling="transpose", batch_norm=batch_norm)
    outputs = supervised_output(top_row, num_classes, activation, deep_supervision)
    return keras.Model(inputs, outputs, name="unetpp")


def encoder_nested_decoder(features: dict, *, dense: bool, filters: Sequence[int] = EFFICIENTUNETPP_FILTERS,
                           final_filters: int = EFFICIENTUNETPP_FINAL_FILTERS, upsampling: str = "nearest",
                           batch_norm: bool = True, deep_supervision=False, width: float = 1.0):
    """Nested decoder on an encoder's stride-2..32 features, then `final_up` and a `final` node at full size.

    The `unetpp` (`dense=True`) and `unetplus` decoders of `zoo.models.decoders`. `filters` at strides 2..16 and
    `final_filters` are times `width`. With `deep_supervision` the result is [X^{0,1}, ..., X^{0,L-1}, final]:
    one head per map, the stride-2 ones upsampled, averaged (`True`) or kept apart (`"separate"`).
    """
    top_row = nested_decoder(features, [scaled(f, width) for f in filters], dense=dense, upsampling=upsampling,
                             batch_norm=batch_norm)
    x = upsample(top_row[-1], 2, 0, mode="nearest", name="final_up")
    x = conv_block([x], scaled(final_filters, width), batch_norm=batch_norm, name="final")
    return top_row[:-1] + [x] if deep_supervision else x


@register_model(paper={"source": "paper 003, Table 6", "params": 6_653_549, "params_kind": "trainable",
                       "input_shape": (256, 256, 3)},
                input_normalization=effnet.INPUT_NORMALIZATION, encoder="efficientnet_b0", decoder="unetplus",
                small={"variant": (0.25, 0.1), "width": 0.25})  # small: 7 MBConv blocks instead of 16
def efficientunetpp(*, input_shape=(256, 256, 3), num_classes=1, activation="sigmoid",
                    filters=EFFICIENTUNETPP_FILTERS, final_filters=EFFICIENTUNETPP_FINAL_FILTERS, width=1.0,
                    variant="b0", encoder_weights=None, drop_connect_rate=0.2, batch_norm=True):
    """EfficientUNet++ (paper 003): EfficientNet-B0 encoder, UNet+ nested decoder (no dense skips), sigmoid head.

    The `unetplus` x `efficientnet_b0` pair. `encoder_weights`: None, "imagenet" (Keras cache) or a path to
    `efficientnetb0_notop.h5`. `width` scales the decoder only; `variant` b1-b3 swaps the encoder.
    """
    encoder = f"efficientnet_{variant}" if variant in effnet.VARIANTS else "efficientnet_b0"  # a tuple: custom
    return build_segmentation_model(
        encoder, "unetplus", input_shape=input_shape, num_classes=num_classes, activation=activation, width=width,
        encoder_weights=encoder_weights, name="efficientunetpp",
        encoder_args={"variant": variant, "drop_connect_rate": drop_connect_rate},
        decoder_args={"filters": filters, "final_filters": final_filters, "batch_norm": batch_norm})


@register_model(paper={"source": "paper 003, Table 6 (XceptionUNet++)", "params": 38_370_009,
                       "params_kind": "trainable", "input_shape": (256, 256, 3)},
                input_normalization=xception.INPUT_NORMALIZATION, encoder="xception", decoder="unetplus",
                small={"encoder_args": {"width": 0.125}, "width": 0.25})
def xceptionunetpp(*, input_shape=(256, 256, 3), num_classes=1, activation="sigmoid", filters=EFFICIENTUNETPP_FILTERS,
                   final_filters=EFFICIENTUNETPP_FINAL_FILTERS, width=1.0, encoder_weights=None, batch_norm=True,
                   encoder_args=None):
    """XceptionUNet++ (paper 003's second variant): the `unetplus` x `xception` pair,
    with EfficientUNet++'s decoder widths (the paper gives only 38,370,009 trainable parameters).
    `encoder_args` go to `zoo.models.encoders.xception.xception` (e.g. `{"width": 0.125}` for a small test build)."""
    return build_segmentation_model(
        "xception", "unetplus", input_shape=input_shape, num_classes=num_classes, activation=activation, width=width,
        encoder_weights=encoder_weights, name="xceptionunetpp", encoder_args=encoder_args,
        decoder_args={"filters": filters, "final_filters": final_filters, "batch_norm": batch_norm})

