"""MultiResUNet, Half and Quarter MultiResUNet as written in paper 002 (Eqs. 10-24).

Every U-Net stage becomes a MultiRes block (MRB) and every skip a Res path. A 3x3 stem conv runs
before the first block (Eq. 16). Stages keep the full model's numbering so TensorBoard panels
line up across variants: MultiResUNet has stages 0-8, Half keeps 0, 1, 4 (narrower bottleneck),
7, 8, and Quarter keeps 0, 4 (narrower bottleneck), 8.

Our choices where the paper is silent or ambiguous (exposed as builder arguments):
- `filters`: the "equivalent U-Net" width U of each encoder stage (bottleneck last); each MRB has
  W = alpha * U channels (alpha = 1.67, from the original MultiResUNet). Chosen to approach
  Table 4's parameter counts at 512x512x3; see README "Models".
- MRB shortcut is a learned 1x1 conv (the paper writes identity but discusses its kernels).
- `respath_length=4` at every level (Eq. 15); pass a sequence per level, e.g. (4, 3, 2, 1), for
  the original's lengths. Res path width = U of its encoder stage.
- `batch_norm=True`: BatchNorm after every conv (the original has it, the paper never says).

Layer names: `stem_conv`, `stage{i}_mrb_{m1,m2,m3,shortcut}_{conv,bn,relu}`,
`respath{i}_{k}_{conv1x1,conv3x3}_{conv,bn,relu}`, `pool{i}`, `head_conv`.
"""
from __future__ import annotations

from typing import Sequence

from zoo.models.blocks import conv_bn_act, multires_block, res_path, scaled
from zoo.models.registry import Stages, register_model
from zoo.models.unet import build_encoder_decoder

# (encoder stage widths U, bottleneck last; stem conv filters), fitted to Table 4 by a grid search.
MULTIRESUNET_FILTERS, MULTIRESUNET_STEM = (36, 72, 144, 288, 720), 32
HALF_MULTIRESUNET_FILTERS, HALF_MULTIRESUNET_STEM = (28, 32, 96), 16
QUARTER_MULTIRESUNET_FILTERS, QUARTER_MULTIRESUNET_STEM = (24, 12), 32

_PAPER = {"source": "paper 002, Table 4", "input_shape": (512, 512, 3)}

# The histogram tool's reading of the stages (zoo.tools.histograms): MultiRes block convs by branch, Res paths by level.
MULTIRES_LAYERS = ((r"stage(\d+)_mrb_(m1|m2|m3|shortcut)_conv", "stage{0}", "{1}"),
                   (r"respath(\d+)_\d+_(conv1x1|conv3x3)_conv", "respath{0}", "{1}"))
_UNIT = "MultiRes blocks"
MULTIRESUNET_STAGES = Stages(tuple(range(9)), MULTIRES_LAYERS, _UNIT, smaller="half_multiresunet", drops=(2, 3, 5, 6),
                             reason="the non-skip convs of MultiResUNet's MultiRes blocks 3 and 4 (stages 2, 3) "
                                    "approached zero (Fig. 12)")
HALF_MULTIRESUNET_STAGES = Stages((0, 1, 4, 7, 8), MULTIRES_LAYERS, _UNIT, smaller="quarter_multiresunet", drops=(1, 7),
                                  reason="some components of Half MultiResUNet's MultiRes blocks 3 and 4 (stages 4, 7) "
                                         "centred around zero (Fig. 13)")
QUARTER_MULTIRESUNET_STAGES = Stages((0, 4, 8), MULTIRES_LAYERS, _UNIT,
                                     reason="it is paper 002's smallest model and no stage collapsed (the paper found "
                                            "no component of it centred at zero, Fig. 14)")


def _multiresunet(model_name, filters, encoder_stages, *, input_shape=(256, 256, 3), num_classes=1,
                  activation="sigmoid", width=1.0, alpha=1.67, respath_length: int | Sequence[int] = 4,
                  stem_filters=32, batch_norm=True, upsample="nearest"):
    depth = len(encoder_stages) - 1
    lengths = [respath_length] * depth if isinstance(respath_length, int) else list(respath_length)
    if len(lengths) != depth:
        raise ValueError(f"{model_name}: respath_length needs {depth} values (one per skip), got {lengths}")
    length_of = dict(zip(encoder_stages, lengths))

    def stem_fn(x):
        return conv_bn_act(x, scaled(stem_filters, width), 3, batch_norm=batch_norm, name="stem")

    def stage_fn(x, f, *, stage):
        return multires_block(x, f, alpha=alpha, batch_norm=batch_norm, name=f"stage{stage}_mrb")

    def skip_fn(x, f, *, level):
        return res_path(x, f, length_of[level], batch_norm=batch_norm, name=f"respath{level}")

    return build_encoder_decoder(model_name, stage_fn, filters, encoder_stages, input_shape=input_shape,
                                 num_classes=num_classes, activation=activation, width=width, stem_fn=stem_fn,
                                 skip_fn=skip_fn, upsample=upsample)


@register_model(paper={**_PAPER, "params": 13.5469e6, "flops": 204.8e9}, stages=MULTIRESUNET_STAGES,
                small={"filters": (6, 12, 24, 48, 120), "stem_filters": 8})  # small: 1/6 of the channels
def multiresunet(*, filters=MULTIRESUNET_FILTERS, stem_filters=MULTIRESUNET_STEM, **kw):
    """MultiResUNet (paper 002 Eqs. 16-18): five encoder MRBs, four decoder MRBs, four Res paths."""
    return _multiresunet("multiresunet", filters, (0, 1, 2, 3, 4), stem_filters=stem_filters, **kw)


@register_model(paper={**_PAPER, "params": 0.2149e6, "flops": 42.9e9}, stages=HALF_MULTIRESUNET_STAGES,
                small={"filters": (8, 8, 8), "stem_filters": 8})
def half_multiresunet(*, filters=HALF_MULTIRESUNET_FILTERS, stem_filters=HALF_MULTIRESUNET_STEM, **kw):
    """Half MultiResUNet (paper 002 Eqs. 19-21): MRBs 0, 1, narrower bottleneck 4, decoders 7, 8."""
    return _multiresunet("half_multiresunet", filters, (0, 1, 4), stem_filters=stem_filters, **kw)


@register_model(paper={**_PAPER, "params": 0.0445e6, "flops": 21.9e9}, stages=QUARTER_MULTIRESUNET_STAGES)
def quarter_multiresunet(*, filters=QUARTER_MULTIRESUNET_FILTERS, stem_filters=QUARTER_MULTIRESUNET_STEM, **kw):
    """Quarter MultiResUNet (paper 002 Eqs. 22-24): MRB 0, narrower bottleneck 4, decoder MRB 8."""
    return _multiresunet("quarter_multiresunet", filters, (0, 4), stem_filters=stem_filters, **kw)
