"""FPN decoder: the semantic-segmentation branch of Panoptic FPN (Kirillov et al., CVPR 2019), as smp's `FPN`.

- pyramid: a 1x1 lateral conv (with bias) brings the encoder maps at strides 32, 16, 8, 4 to
  `pyramid_channels`; top-down, each finer level adds the nearest-upsampled coarser one (P5 -> P2);
- segmentation blocks: per level, 3x3 conv -> norm -> ReLU followed by bilinear x2, repeated until the
  map reaches stride 4 (P2: one conv, no upsampling), `segmentation_channels` wide;
- merge: the four blocks summed (`merge="add"`, smp's default) or concatenated (`"cat"`), then spatial
  dropout (0.2); the model's head is a 1x1 conv upsampled x4 (bilinear) to the input size.
Ours differ from smp in two weight-free ways: BatchNorm instead of GroupNorm (tfmot has no
GroupNorm; BatchNorm folds into the conv at export) and half-pixel bilinear upsampling (smp: align_corners).

Layer names: `fpn_lateral{s}`, `fpn_p{s}_up`, `fpn_p{s}_add`, `fpn_seg{s}_{k}_{conv,bn,relu}`,
`fpn_seg{s}_{k}_up`, `fpn_merge`, `fpn_dropout`.
"""
from __future__ import annotations

import tf_keras as keras

from zoo.models.blocks import EdgeUpSampling2D, conv_bn_act, scaled

layers = keras.layers

PYRAMID_STRIDES = (32, 16, 8, 4)


def fpn_decoder(features: dict, *, pyramid_channels: int = 256, segmentation_channels: int = 128, merge: str = "add",
                dropout: float = 0.2, width: float = 1.0):
    """FPN over encoder features at strides 4..32 (output stride 32); returns the merged stride-4 map."""
    if merge not in ("add", "cat"):
        raise ValueError(f"fpn: merge must be 'add' or 'cat', got {merge!r}")
    pc, sc = scaled(pyramid_channels, width), scaled(segmentation_channels, width)
    pyramid, p = {}, None
    for s in PYRAMID_STRIDES:
        lateral = layers.Conv2D(pc, 1, name=f"fpn_lateral{s}")(features[s])
        if p is not None:
            up = EdgeUpSampling2D(2, interpolation="nearest", name=f"fpn_p{s}_up")(p)
            lateral = layers.Add(name=f"fpn_p{s}_add")([up, lateral])
        p = pyramid[s] = lateral
    blocks = [segmentation_block(x, sc, upsamplings=(s // 4).bit_length() - 1, name=f"fpn_seg{s}")
              for s, x in pyramid.items()]
    x = layers.Add(name="fpn_merge")(blocks) if merge == "add" else layers.Concatenate(name="fpn_merge")(blocks)
    return layers.SpatialDropout2D(dropout, name="fpn_dropout")(x) if dropout else x


def segmentation_block(x, filters: int, *, upsamplings: int, name: str):
    """max(1, n) times 3x3 conv -> BN -> ReLU, each of the first n followed by bilinear x2 (smp `SegmentationBlock`)."""
    for k in range(max(1, upsamplings)):
        x = conv_bn_act(x, filters, 3, name=f"{name}_{k}")
        if k < upsamplings:
            x = EdgeUpSampling2D(2, interpolation="bilinear", name=f"{name}_{k}_up")(x)
    return x
