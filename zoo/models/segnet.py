"""SegNet (Badrinarayanan, Kendall & Cipolla, TPAMI 2017), paper 003's baseline, as one flat graph.

Encoder: VGG16's 13 3x3 convs, each conv -> BatchNorm -> ReLU, in 5 blocks (64, 64 | 128, 128 | 256 x3 |
512 x3 | 512 x3) each ending in a 2x2 max-pool. Decoder: the mirror image, as the authors' Caffe model
(`segnet_train.prototxt`): each block upsamples with the max-pooling indices of its encoder block, then
3x3 conv -> BN -> ReLU layers (512 x3 | 512, 512, 256 | 256, 256, 128 | 128, 64 | 64), and a 3x3
classifier conv with a sigmoid (the paper's K-class softmax for binary masks).

Pooling-index unpooling is the `MaxUnpooling2D` layer here: it takes the encoder map before pooling x, the
pooled map p and the decoder map y, and returns y upsampled x2 (nearest) where x equals the upsampled p
(the window's maximum), 0 elsewhere: `where(x == up(p), up(y), 0)`. Built-in TFLite ops only (EQUAL,
RESIZE_NEAREST_NEIGHBOR, SELECT_V2); in the INT8 file x and p share one scale (MAX_POOL_2D keeps it), so
the comparison is exact there too. No weights; QAT quantizes its output only (`OutputQuantizeConfig`).
One difference from SegNet's indices: where a window's maximum is tied (e.g. all four values 0 after the
ReLU), every tied position receives the value, where Caffe's index keeps only the first.

Parameters (trainable) at full width, 3-channel input, 1 class: 29,435,649 (29,451,521 with the BatchNorm
statistics). The authors' SegNet has 29.5 M (TPAMI Table 6) with the same layers;
paper 003 reports 33,393,157 for the SegNet it trained, whose configuration it does not give.
"""
from __future__ import annotations

import tensorflow as tf
import tf_keras as keras

from zoo.models.blocks import check_input_shape, conv_bn_act, scaled
from zoo.models.quantization import CUSTOM_QUANTIZE_CONFIGS, OutputQuantizeConfig
from zoo.models.registry import register_model

layers = keras.layers

# Encoder blocks (VGG16): convs per block and their channels; the decoder mirrors them.
ENCODER = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
DECODER = ((512, 512, 512), (512, 512, 256), (256, 256, 128), (128, 64), (64,))  # blocks 5 .. 1


@keras.saving.register_keras_serializable(package="edgeseg")
class MaxUnpooling2D(layers.Layer):
    """SegNet's 2x2 max-unpooling from inputs [x (before pooling), pooled x, y (at the pooled size)]."""

    def call(self, inputs):
        x, pooled, y = inputs
        size = tf.shape(x)[1:3]
        # x2 nearest without half-pixel centers: the same values for an integer factor, and RESIZE_NEAREST_NEIGHBOR
        # op version 1/2 in TFLite instead of 3 (see `zoo.models.blocks.EdgeUpSampling2D`)
        upsampled = tf.raw_ops.ResizeNearestNeighbor(images=y, size=size, half_pixel_centers=False)
        argmax = tf.equal(x, tf.raw_ops.ResizeNearestNeighbor(images=pooled, size=size, half_pixel_centers=False))
        return tf.where(argmax, upsampled, tf.zeros_like(upsampled))

    def compute_output_shape(self, input_shape):
        return (*input_shape[0][:-1], input_shape[2][-1])

    def get_prunable_weights(self):  # tfmot pruning: nothing to prune
        return []


CUSTOM_QUANTIZE_CONFIGS[MaxUnpooling2D] = OutputQuantizeConfig  # weightless: quantize the output only


def encoder_block(x, filters, block: int):
    """conv -> BN -> ReLU per entry of `filters`, then 2x2 max-pool; returns (pre-pool map, pooled map)."""
    for i, f in enumerate(filters, start=1):
        x = conv_bn_act(x, f, 3, name=f"block{block}_conv{i}")
    return x, layers.MaxPooling2D(2, name=f"block{block}_pool")(x)


def decoder_block(y, pre_pool, pooled, filters, block: int):
    """Max-unpooling with block `block`'s indices, then conv -> BN -> ReLU per entry of `filters`."""
    y = MaxUnpooling2D(name=f"decoder{block}_unpool")([pre_pool, pooled, y])
    for i, f in enumerate(filters, start=1):
        y = conv_bn_act(y, f, 3, name=f"decoder{block}_conv{i}")
    return y


@register_model(paper={"source": "paper 003, Table 6; Badrinarayanan et al. TPAMI 2017", "params": 33_393_157,
                       "params_kind": "trainable", "input_shape": (256, 256, 3),
                       "note": "paper 003 does not give its SegNet's configuration; the authors' SegNet has 29.5 M"},
                small={"width": 0.125})
def segnet(*, input_shape=(256, 256, 3), num_classes=1, activation="sigmoid", width=1.0):
    """SegNet: VGG16-BN encoder, pooling-index decoder, 3x3 classifier (module docstring). `width` scales channels."""
    h, w, c = check_input_shape(input_shape, 32, "segnet")
    inputs = keras.Input((h, w, c), name="image")
    x, skips = inputs, []
    for block, filters in enumerate(ENCODER, start=1):
        pre_pool, x = encoder_block(x, [scaled(f, width) for f in filters], block)
        skips.append((pre_pool, x))
    for block, filters in zip(range(5, 0, -1), DECODER):
        pre_pool, pooled = skips[block - 1]
        x = decoder_block(x, pre_pool, pooled, [scaled(f, width) for f in filters], block)
    x = layers.Conv2D(num_classes, 3, padding="same", name="head_conv")(x)
    if activation:
        x = layers.Activation(activation, dtype="float32", name=f"head_{activation}")(x)
    return keras.Model(inputs, x, name="segnet")
