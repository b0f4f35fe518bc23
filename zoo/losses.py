"""Segmentation losses for binary masks (Keras 2 / `tf_keras`).

Shapes: `y_true` and `y_pred` are float tensors of shape (batch, H, W, 1). `y_true` is a binary mask in
{0, 1}; `y_pred` holds sigmoid probabilities, or logits when a loss has `from_logits=True`. The
functions only need the first axis to index images: everything after it is flattened into the
pixels of that image. Every loss is computed per image and then averaged over the batch (Keras
applies that mean, and any `sample_weight`, via the loss's `reduction`).

`WeightedBCE` is paper 002's loss (Lee & Jhang 2021, Eqs. 25-29). The others are common baselines.
Names for `get_loss` / `train.py --loss`: see `LOSSES`.
"""
from __future__ import annotations

import tensorflow as tf
import tf_keras as keras

EPSILON = 1e-7  # probability clipping for log(); same value as Keras' backend epsilon


# --------------------------------------------------------------------------- pure functions


def flatten_per_image(x) -> tf.Tensor:
    """(batch, ...) -> (batch, pixels) float32."""
    x = tf.cast(x, tf.float32)
    return tf.reshape(x, [tf.shape(x)[0], -1])


def per_image_sum(x) -> tf.Tensor:
    """Sum over every axis but the first: (batch, ...) -> (batch,)."""
    return tf.reduce_sum(flatten_per_image(x), axis=1)


def per_image_mean(x) -> tf.Tensor:
    """Mean over every axis but the first: (batch, ...) -> (batch,)."""
    return tf.reduce_mean(flatten_per_image(x), axis=1)


def elementwise_bce(y_true, y_pred, from_logits: bool = False, epsilon: float = EPSILON) -> tf.Tensor:
    """Element-wise binary cross-entropy (paper 002 Eq. 27), same shape as the inputs.

    Probabilities are clipped to [epsilon, 1 - epsilon]; logits use the numerically stable
    `tf.nn.sigmoid_cross_entropy_with_logits`.
    """
    y_pred = tf.cast(y_pred, tf.float32)
    y_true = tf.cast(y_true, tf.float32)
    if from_logits:
        return tf.nn.sigmoid_cross_entropy_with_logits(labels=y_true, logits=y_pred)
    p = tf.clip_by_value(y_pred, epsilon, 1.0 - epsilon)
    return -(y_true * tf.math.log(p) + (1.0 - y_true) * tf.math.log(1.0 - p))


def paper_weight_map(y_true) -> tf.Tensor:
    """WeightMat of paper 002 Eqs. 25, 26, 28, per image: Y * w_T + (1 - Y) * w_F.

    w_T = N / sum(Y) and w_F = N / (N - sum(Y)), with N the image's pixel count (the paper's
    512 * 512). An image without foreground gets w_T = 0, an all-foreground image w_F = 0 (the paper
    does not say; those pixels do not exist, so this only keeps the weights finite).
    Returns (batch, pixels) float32.
    """
    y = flatten_per_image(y_true)
    n = tf.cast(tf.shape(y)[1], tf.float32)
    fg = tf.reduce_sum(y, axis=1, keepdims=True)
    w_t = tf.math.divide_no_nan(n, fg)
    w_f = tf.math.divide_no_nan(n, n - fg)
    return y * w_t + (1.0 - y) * w_f


def soft_dice(y_true, y_pred, smooth: float = 1.0) -> tf.Tensor:
    """Soft Dice per image on probabilities: (2 sum(Y P) + s) / (sum(Y) + sum(P) + s) -> (batch,)."""
    y, p = flatten_per_image(y_true), flatten_per_image(y_pred)
    inter = tf.reduce_sum(y * p, axis=1)
    return (2.0 * inter + smooth) / (tf.reduce_sum(y, axis=1) + tf.reduce_sum(p, axis=1) + smooth)


def soft_jaccard(y_true, y_pred, smooth: float = 1.0) -> tf.Tensor:
    """Soft IoU per image on probabilities: (sum(Y P) + s) / (sum(Y) + sum(P) - sum(Y P) + s) -> (batch,)."""
    y, p = flatten_per_image(y_true), flatten_per_image(y_pred)
    inter = tf.reduce_sum(y * p, axis=1)
    union = tf.reduce_sum(y, axis=1) + tf.reduce_sum(p, axis=1) - inter
    return (inter + smooth) / (union + smooth)


# --------------------------------------------------------------------------- Keras losses


class _SegmentationLoss(keras.losses.Loss):
    """Base: `call` returns one loss per image, shape (batch,); Keras then takes the batch mean."""

    default_name = "segmentation_loss"

    def __init__(self, from_logits: bool = False, reduction=keras.losses.Reduction.AUTO, name: str | None = None):
        super().__init__(reduction=reduction, name=name or self.default_name)
        self.from_logits = bool(from_logits)

    def probabilities(self, y_pred) -> tf.Tensor:
        y_pred = tf.cast(y_pred, tf.float32)
        return tf.sigmoid(y_pred) if self.from_logits else y_pred

    def get_config(self) -> dict:
        return {**super().get_config(), "from_logits": self.from_logits}


@keras.utils.register_keras_serializable(package="zoo")
class BinaryCrossEntropy(_SegmentationLoss):
    """Plain binary cross-entropy, mean over pixels and batch."""

    default_name = "bce"

    def call(self, y_true, y_pred):
        return per_image_mean(elementwise_bce(y_true, y_pred, self.from_logits))


@keras.utils.register_keras_serializable(package="zoo")
class WeightedBCE(_SegmentationLoss):
    """Paper 002's per-image class-weighted BCE (Eqs. 25-29): sum over pixels of BCE * WeightMat, batch mean.

    Args:
        from_logits: `y_pred` holds logits instead of probabilities.
        reduction_over_pixels: "sum" (the paper) or "mean" (the sum divided by the pixel count).
            The sum is large: with y_pred = 0.5 everywhere it is exactly 2 ln2 N per image with
            foreground and background, which matters for the learning rate.
    """

    default_name = "weighted_bce"

    def __init__(self, from_logits: bool = False, reduction_over_pixels: str = "sum",
                 reduction=keras.losses.Reduction.AUTO, name: str | None = None):
        if reduction_over_pixels not in ("sum", "mean"):
            raise ValueError(f"reduction_over_pixels must be 'sum' or 'mean', got {reduction_over_pixels!r}")
        super().__init__(from_logits=from_logits, reduction=reduction, name=name)
        self.reduction_over_pixels = reduction_over_pixels

    def call(self, y_true, y_pred):
        weighted = flatten_per_image(elementwise_bce(y_true, y_pred, self.from_logits)) * paper_weight_map(y_true)
        reduce = tf.reduce_sum if self.reduction_over_pixels == "sum" else tf.reduce_mean
        return reduce(weighted, axis=1)

    def get_config(self) -> dict:
        return {**super().get_config(), "reduction_over_pixels": self.reduction_over_pixels}


class _SmoothLoss(_SegmentationLoss):
    """Base for the overlap losses: adds the smoothing constant `smooth` (default 1.0)."""

    def __init__(self, smooth: float = 1.0, from_logits: bool = False,
                 reduction=keras.losses.Reduction.AUTO, name: str | None = None):
        super().__init__(from_logits=from_logits, reduction=reduction, name=name)
        self.smooth = float(smooth)

    def get_config(self) -> dict:
        return {**super().get_config(), "smooth": self.smooth}


@keras.utils.register_keras_serializable(package="zoo")
class DiceLoss(_SmoothLoss):
    """1 - soft Dice per image (see `soft_dice`), batch mean. `smooth` keeps empty masks finite (loss 0 if both empty)."""

    default_name = "dice"

    def call(self, y_true, y_pred):
        return 1.0 - soft_dice(y_true, self.probabilities(y_pred), self.smooth)


@keras.utils.register_keras_serializable(package="zoo")
class JaccardLoss(_SmoothLoss):
    """1 - soft IoU per image (see `soft_jaccard`), batch mean; same conventions as `DiceLoss`."""

    default_name = "jaccard"

    def call(self, y_true, y_pred):
        return 1.0 - soft_jaccard(y_true, self.probabilities(y_pred), self.smooth)


@keras.utils.register_keras_serializable(package="zoo")
class BCEJaccardLoss(_SmoothLoss):
    """BCE (pixel mean) + (1 - soft IoU), per image, batch mean."""

    default_name = "bce_jaccard"

    def call(self, y_true, y_pred):
        bce = per_image_mean(elementwise_bce(y_true, y_pred, self.from_logits))
        return bce + 1.0 - soft_jaccard(y_true, self.probabilities(y_pred), self.smooth)


@keras.utils.register_keras_serializable(package="zoo")
class BCEDiceLoss(_SmoothLoss):
    """alpha * BCE (pixel mean) + (1 - alpha) * (1 - soft Dice), per image, batch mean.

    Args:
        alpha: weight of the BCE term, in [0, 1] (default 0.5).
        smooth: Dice smoothing constant.
        from_logits: `y_pred` holds logits instead of probabilities.
    """

    default_name = "bce_dice"

    def __init__(self, alpha: float = 0.5, smooth: float = 1.0, from_logits: bool = False,
                 reduction=keras.losses.Reduction.AUTO, name: str | None = None):
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        super().__init__(smooth=smooth, from_logits=from_logits, reduction=reduction, name=name)
        self.alpha = float(alpha)

    def call(self, y_true, y_pred):
        bce = per_image_mean(elementwise_bce(y_true, y_pred, self.from_logits))
        dice = 1.0 - soft_dice(y_true, self.probabilities(y_pred), self.smooth)
        return self.alpha * bce + (1.0 - self.alpha) * dice

    def get_config(self) -> dict:
        return {**super().get_config(), "alpha": self.alpha}


LOSSES = {
    "bce": BinaryCrossEntropy,
    "weighted_bce": WeightedBCE,
    "dice": DiceLoss,
    "jaccard": JaccardLoss,
    "bce_jaccard": BCEJaccardLoss,
    "bce_dice": BCEDiceLoss,
}


def get_loss(name: str, **kwargs) -> keras.losses.Loss:
    """A fresh loss instance by name (see `LOSSES`); keyword arguments go to its constructor.

    Raises:
        ValueError: unknown name (the message lists the valid names).
    """
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; valid names: {', '.join(LOSSES)}")
    return LOSSES[name](**kwargs)
