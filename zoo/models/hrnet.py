"""HRNetV2-W18 for segmentation (Sun et al. CVPR 2019; Wang et al. TPAMI 2020), paper 003's baseline, one flat graph.

As the official HRNet-Semantic-Segmentation `seg_hrnet.py` with `w18` config:
- stem: two 3x3 stride-2 convs (64) -> stride 4; stage 1: 4 bottleneck blocks (64 -> 256 channels);
- stages 2, 3, 4: 1, 4, 3 modules of 2, 3, 4 parallel branches at widths 18, 36, 72, 144 (strides 4..32),
  4 basic blocks per branch, then a multi-resolution fusion: each output branch sums every input branch,
  higher resolutions brought down by chained 3x3 stride-2 convs (+ BN, ReLU between), lower ones by a 1x1
  conv + BN and bilinear upsampling, then ReLU;
- transitions add each new branch by a 3x3 stride-2 conv from the previous lowest-resolution branch;
- HRNetV2 head: the four branches upsampled (bilinear) to stride 4 and concatenated (270 channels),
  1x1 conv -> BN -> ReLU (270), 1x1 classifier conv, x4 bilinear upsampling, sigmoid.

Blocks reuse `zoo.models.encoders.resnet.basic_block` / `bottleneck_block` (names `{prefix}_1_conv`, `_add`, `_out`,
...); the bottleneck's convs keep that module's Keras-style biases (1,792 parameters in stage 1 that the
official, bias-free HRNet has not). Layer names: `stem_conv{1,2}_*`, `stage1_block{b}_*`,
`transition{s}_branch{i}_*`, `stage{s}_module{m}_branch{i}_block{b}_*`, `stage{s}_module{m}_fuse{i}_{j}*`, `head_*`.

Trainable parameters at width 1, 3-channel input, 1 class: 9,637,763 (9,672,239 with BatchNorm statistics);
with 19 classes 9,642,641, i.e. 9,640,849 without the stage-1 biases: the official HRNetV2-W18 Cityscapes
model's 9.6 M. Paper 003 reports 9,504,578 for its HRNet, whose configuration it does not give.
For tests: `num_blocks` (per branch, 4) and `num_modules` (stages 2-4, (1, 4, 3)) shrink the model;
`width` scales every channel count; `base_width` 32 or 48 gives HRNetV2-W32 / W48.
"""
from __future__ import annotations

import tf_keras as keras

from zoo.models.blocks import EdgeUpSampling2D, check_input_shape, conv_bn_act, scaled
from zoo.models.encoders.resnet import basic_block, bottleneck_block
from zoo.models.registry import register_model

layers = keras.layers

STEM_FILTERS = 64
STAGE1_PLANES = 64  # bottleneck blocks output 4x


def _upsample(x, factor: int, name: str):
    return EdgeUpSampling2D(factor, interpolation="bilinear", name=name)(x)


def fuse(branches: list, name: str) -> list:
    """HRNet multi-resolution fusion: output i = ReLU(sum over input branches j of branch j resampled to i)."""
    outputs = []
    for i, target in enumerate(branches):
        channels, terms = target.shape[-1], []
        for j, source in enumerate(branches):
            y = source
            if j > i:  # lower resolution: 1x1 conv + BN, then bilinear upsampling
                y = conv_bn_act(y, channels, 1, activation=None, name=f"{name}_fuse{i}_{j}")
                y = _upsample(y, 2 ** (j - i), f"{name}_fuse{i}_{j}_up")
            for k in range(i - j):  # higher resolution: chained 3x3 stride-2 convs, the last one linear
                last = k == i - j - 1
                y = conv_bn_act(y, channels if last else source.shape[-1], 3, strides=2,
                                activation=None if last else "relu", name=f"{name}_fuse{i}_{j}_{k}")
            terms.append(y)
        # Binary adds, summed in branch order: a 3- or 4-input Add becomes ADD_N, whose QAT INT8 file aborted
        # LiteRT in allocate_tensors (measured, ai-edge-litert 2.3); pairwise ADDs quantize and run.
        x = terms[0]
        for j, y in enumerate(terms[1:], start=1):
            x = layers.Add(name=f"{name}_fuse{i}_add{j}")([x, y])
        outputs.append(layers.Activation("relu", name=f"{name}_fuse{i}_relu")(x))
    return outputs


def hr_module(branches: list, num_blocks: int, name: str) -> list:
    """`num_blocks` basic blocks on every branch, then the fusion across branches."""
    for i, x in enumerate(branches):
        for b in range(1, num_blocks + 1):
            x = basic_block(x, x.shape[-1], project=False, name=f"{name}_branch{i}_block{b}")
        branches[i] = x
    return fuse(branches, name)


def transition(branches: list, widths: list, stage: int) -> list:
    """Match existing branches to `widths` (3x3 conv where the width differs) and add one branch at half resolution."""
    out = []
    for i, w in enumerate(widths[:-1]):
        x = branches[i]
        out.append(x if x.shape[-1] == w else conv_bn_act(x, w, 3, name=f"transition{stage}_branch{i}"))
    out.append(conv_bn_act(branches[-1], widths[-1], 3, strides=2, name=f"transition{stage}_branch{len(widths) - 1}"))
    return out


def hrnet_features(inputs, *, base_width: int = 18, width: float = 1.0, num_blocks: int = 4,
                   num_modules=(1, 4, 3)) -> list:
    """The HRNet backbone: the four branch outputs at strides 4, 8, 16, 32 (widths base x 1, 2, 4, 8)."""
    x = conv_bn_act(inputs, scaled(STEM_FILTERS, width), 3, strides=2, name="stem_conv1")
    x = conv_bn_act(x, scaled(STEM_FILTERS, width), 3, strides=2, name="stem_conv2")
    for b in range(1, num_blocks + 1):
        x = bottleneck_block(x, scaled(STAGE1_PLANES, width), project=b == 1, name=f"stage1_block{b}")
    branches = [x]
    widths = [scaled(base_width * 2 ** i, width) for i in range(4)]
    for stage, modules in zip((2, 3, 4), num_modules):
        branches = transition(branches, widths[:stage], stage - 1)
        for m in range(1, modules + 1):
            branches = hr_module(branches, num_blocks, f"stage{stage}_module{m}")
    return branches


@register_model(paper={"source": "paper 003, Table 6; HRNetV2-W18 (Wang et al. TPAMI 2020)", "params": 9_504_578,
                       "params_kind": "trainable", "input_shape": (256, 256, 3),
                       "note": "paper 003 does not give its HRNet's width; HRNetV2-W18 (19 classes) has 9.6 M"},
                small={"width": 0.25, "num_blocks": 1, "num_modules": (1, 1, 1)})
def hrnet_w18(*, input_shape=(256, 256, 3), num_classes=1, activation="sigmoid", width=1.0, base_width=18,
              num_blocks=4, num_modules=(1, 4, 3)):
    """HRNetV2-W18 segmentation model (module docstring); `num_blocks`/`num_modules` shrink it for tests."""
    h, w, c = check_input_shape(input_shape, 32, "hrnet_w18")
    inputs = keras.Input((h, w, c), name="image")
    branches = hrnet_features(inputs, base_width=base_width, width=width, num_blocks=num_blocks,
                              num_modules=num_modules)
    x = layers.Concatenate(name="head_concat")(
        [branches[0]] + [_upsample(b, 2 ** i, f"head_up{i}") for i, b in enumerate(branches) if i])
    x = conv_bn_act(x, x.shape[-1], 1, name="head_fuse")
    x = layers.Conv2D(num_classes, 1, name="head_conv")(x)
    x = _upsample(x, 4, "head_up")
    if activation:
        x = layers.Activation(activation, dtype="float32", name=f"head_{activation}")(x)
    return keras.Model(inputs, x, name="hrnet_w18")
