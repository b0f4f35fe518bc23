"""Segmentation losses for binary masks (Keras 2 / `tf_keras`): the catalogue behind `train.py --loss`.

Shapes: `y_true` is a binary mask (batch, H, W, 1) in {0, 1} (a one-hot (batch, H, W, 2) mask works
too). `y_pred` is either a sigmoid head (batch, H, W, 1) or a 2-channel softmax head (batch, H, W, 2),
whose channel 1 is the foreground; with `from_logits=True` it holds the logits before the sigmoid or
softmax. Everything after the first axis is flattened into the pixels of one image. Every loss is
computed per image, then Keras takes the batch mean (and applies any `sample_weight`).

Sources: `WeightedBCE` is paper 002 (Eqs. 25-29); `BCEDiceLoss` (alpha-weighted) paper 003;
`DiceBCELoss`, `DiceFocalLoss`, `JaccardBCELoss` paper 001 (unweighted sums by default, weights
exposed); `ExpLoss` and `AdaptExpLoss` paper 004 (Eqs. 1-3). Focal is Lin et al. 2017, Tversky
Salehi et al. 2017, focal Tversky Abraham & Khan 2019. Hyper-parameters the papers leave out are our
choices and documented per class. Names for `get_loss`: see `LOSSES`.
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


def per_image_mean(x) -> tf.Tensor:
    """Mean over every axis but the first: (batch, ...) -> (batch,)."""
    return tf.reduce_mean(flatten_per_image(x), axis=1)


def binary_target(y_true) -> tf.Tensor:
    """The foreground mask (..., 1) float32 from a (..., 1) mask or a one-hot (..., 2) mask."""
    y = tf.cast(y_true, tf.float32)
    return y[..., 1:] if y.shape[-1] == 2 else y


def foreground_probability(y_pred, from_logits: bool = False) -> tf.Tensor:
    """Foreground probability (..., 1) from a sigmoid (..., 1) or 2-channel softmax (..., 2) output."""
    y_pred = tf.cast(y_pred, tf.float32)
    if y_pred.shape[-1] == 2:
        return (tf.nn.softmax(y_pred, axis=-1) if from_logits else y_pred)[..., 1:]
    return tf.sigmoid(y_pred) if from_logits else y_pred


def log_probabilities(y_pred, from_logits: bool = False, epsilon: float = EPSILON) -> tuple[tf.Tensor, tf.Tensor]:
    """(log P, log(1 - P)) of the foreground, each (..., 1).

    Logits use the stable log-sigmoid / log-softmax; probabilities are clipped to [epsilon, 1 - epsilon].
    """
    y_pred = tf.cast(y_pred, tf.float32)
    if from_logits and y_pred.shape[-1] == 2:
        log_p = tf.nn.log_softmax(y_pred, axis=-1)
        return log_p[..., 1:], log_p[..., :1]
    if from_logits:
        return tf.math.log_sigmoid(y_pred), tf.math.log_sigmoid(-y_pred)
    p = tf.clip_by_value(foreground_probability(y_pred), epsilon, 1.0 - epsilon)
    return tf.math.log(p), tf.math.log(1.0 - p)


def elementwise_bce(y_true, y_pred, from_logits: bool = False, epsilon: float = EPSILON) -> tf.Tensor:
    """Element-wise binary cross-entropy (paper 002 Eq. 27), shape (..., 1).

    Probabilities are clipped to [epsilon, 1 - epsilon]; logits use the stable log-sigmoid (log-softmax
    for a 2-channel head).
    """
    y = binary_target(y_true)
    log_p, log_q = log_probabilities(y_pred, from_logits, epsilon)
    return -(y * log_p + (1.0 - y) * log_q)


def elementwise_focal(y_true, y_pred, gamma: float = 2.0, alpha: float = 0.25, from_logits: bool = False,
                      epsilon: float = EPSILON) -> tf.Tensor:
    """Focal loss per pixel (Lin et al. 2017): -[a y (1-P)^g log P + (1-a)(1-y) P^g log(1-P)], shape (..., 1)."""
    y = binary_target(y_true)
    log_p, log_q = log_probabilities(y_pred, from_logits, epsilon)
    p = tf.clip_by_value(foreground_probability(y_pred, from_logits), epsilon, 1.0 - epsilon)  # finite pow gradient
    return -(alpha * y * tf.pow(1.0 - p, gamma) * log_p + (1.0 - alpha) * (1.0 - y) * tf.pow(p, gamma) * log_q)


def paper_weight_map(y_true) -> tf.Tensor:
    """WeightMat of paper 002 Eqs. 25, 26, 28, per image: Y * w_T + (1 - Y) * w_F.

    w_T = N / sum(Y) and w_F = N / (N - sum(Y)), with N the image's pixel count (the paper's
    512 * 512). An image without foreground gets w_T = 0, an all-foreground image w_F = 0 (the paper
    does not say; those pixels do not exist, so this only keeps the weights finite).
    Returns (batch, pixels) float32.
    """
    y = flatten_per_image(binary_target(y_true))
    n = tf.cast(tf.shape(y)[1], tf.float32)
    fg = tf.reduce_sum(y, axis=1, keepdims=True)
    w_t = tf.math.divide_no_nan(n, fg)
    w_f = tf.math.divide_no_nan(n, n - fg)
    return y * w_t + (1.0 - y) * w_f


def soft_dice(y_true, y_pred, smooth: float = 1.0) -> tf.Tensor:
    """Soft Dice per image on foreground probabilities: (2 sum(Y P) + s) / (sum(Y) + sum(P) + s) -> (batch,)."""
    y, p = flatten_per_image(binary_target(y_true)), flatten_per_image(y_pred)
    inter = tf.reduce_sum(y * p, axis=1)
    return (2.0 * inter + smooth) / (tf.reduce_sum(y, axis=1) + tf.reduce_sum(p, axis=1) + smooth)


def soft_jaccard(y_true, y_pred, smooth: float = 1.0) -> tf.Tensor:
    """Soft IoU per image: (sum(Y P) + s) / (sum(Y) + sum(P) - sum(Y P) + s) -> (batch,)."""
    y, p = flatten_per_image(binary_target(y_true)), flatten_per_image(y_pred)
    inter = tf.reduce_sum(y * p, axis=1)
    union = tf.reduce_sum(y, axis=1) + tf.reduce_sum(p, axis=1) - inter
    return (inter + smooth) / (union + smooth)


def tversky_index(y_true, y_pred, alpha: float = 0.3, beta: float = 0.7, smooth: float = 1.0) -> tf.Tensor:
    """Soft Tversky index per image: (TP + s) / (TP + alpha FP + beta FN + s) -> (batch,).

    alpha weighs false positives, beta false negatives (Salehi et al. 2017); alpha = beta = 0.5 is Dice.
    """
    y, p = flatten_per_image(binary_target(y_true)), flatten_per_image(y_pred)
    tp = tf.reduce_sum(y * p, axis=1)
    fp = tf.reduce_sum((1.0 - y) * p, axis=1)
    fn = tf.reduce_sum(y * (1.0 - p), axis=1)
    return (tp + smooth) / (tp + alpha * fp + beta * fn + smooth)


def exp_loss_map(y_true, p, weight_fg, weight_bg) -> tf.Tensor:
    """Paper 004 Eq. 3 per pixel: w_fg y exp(-P) + w_bg (1 - y) exp(-(1 - P)) -> (batch, pixels).

    The weights broadcast against (batch, pixels): scalars (Exp Loss) or (batch, 1) (Adapt Exp Loss).
    """
    y, p = flatten_per_image(binary_target(y_true)), flatten_per_image(p)
    return weight_fg * y * tf.exp(-p) + weight_bg * (1.0 - y) * tf.exp(-(1.0 - p))


def adapt_exp_weights(y_true, epsilon: float = 1e-6) -> tuple[tf.Tensor, tf.Tensor]:
    """Paper 004 Eqs. 1-2 per image: k = foreground fraction of the truth, (1 / (k + eps), 1 / (1 - k + eps)), each (batch, 1)."""
    k = tf.reduce_mean(flatten_per_image(binary_target(y_true)), axis=1, keepdims=True)
    return 1.0 / (k + epsilon), 1.0 / (1.0 - k + epsilon)


# --------------------------------------------------------------------------- Keras losses


def _check_range(name: str, value: float, low: float, high: float | None = None) -> float:
    if not (value >= low and (high is None or value <= high)):
        raise ValueError(f"{name} must be in [{low}, {'inf' if high is None else high}], got {value}")
    return float(value)


class _SegmentationLoss(keras.losses.Loss):
    """Base: `call` returns one loss per image, shape (batch,); Keras then takes the batch mean.

    Subclasses list their extra constructor arguments in `params` (name -> default); they are stored as
    attributes and returned by `get_config`.
    """

    default_name = "segmentation_loss"
    params: dict = {}

    def __init__(self, from_logits: bool = False, reduction=keras.losses.Reduction.AUTO, name: str | None = None,
                 **kwargs):
        unknown = set(kwargs) - set(self.params)
        if unknown:
            raise TypeError(f"{type(self).__name__} got unknown argument(s) {sorted(unknown)}; "
                            f"valid: from_logits, {', '.join(self.params) or '(none)'}")
        super().__init__(reduction=reduction, name=name or self.default_name)
        self.from_logits = bool(from_logits)
        for key, default in self.params.items():
            value = kwargs.get(key, default)
            setattr(self, key, value if isinstance(value, str) else float(value))
        self.validate()

    def validate(self) -> None:
        """Raise ValueError on arguments that cannot work; overridden where there are any."""

    def probabilities(self, y_pred) -> tf.Tensor:
        """Foreground probabilities (..., 1) of `y_pred` (sigmoid or 2-channel softmax, probabilities or logits)."""
        return foreground_probability(y_pred, self.from_logits)

    def bce(self, y_true, y_pred) -> tf.Tensor:
        """BCE per image (pixel mean) -> (batch,)."""
        return per_image_mean(elementwise_bce(y_true, y_pred, self.from_logits))

    def get_config(self) -> dict:
        return {**super().get_config(), "from_logits": self.from_logits,
                **{k: getattr(self, k) for k in self.params}}


def _pixel_reduce(values, reduction: str) -> tf.Tensor:
    return tf.reduce_sum(values, axis=1) if reduction == "sum" else tf.reduce_mean(values, axis=1)


def _check_reduction(name: str, value: str) -> None:
    if value not in ("sum", "mean"):
        raise ValueError(f"{name} must be 'sum' or 'mean', got {value!r}")


@keras.utils.register_keras_serializable(package="zoo")
class BinaryCrossEntropy(_SegmentationLoss):
    """Plain binary cross-entropy, mean over pixels and batch."""

    default_name = "bce"

    def call(self, y_true, y_pred):
        return self.bce(y_true, y_pred)


@keras.utils.register_keras_serializable(package="zoo")
class WeightedBCE(_SegmentationLoss):
    """Paper 002's per-image class-weighted BCE (Eqs. 25-29): sum over pixels of BCE * WeightMat, batch mean.

    Args:
        reduction_over_pixels: "sum" (the paper) or "mean" (the sum divided by the pixel count).
            The sum is large: with y_pred = 0.5 everywhere it is exactly 2 ln2 N per image with
            foreground and background, which matters for the learning rate.
    """

    default_name = "weighted_bce"
    params = {"reduction_over_pixels": "sum"}

    def validate(self):
        _check_reduction("reduction_over_pixels", self.reduction_over_pixels)

    def call(self, y_true, y_pred):
        weighted = flatten_per_image(elementwise_bce(y_true, y_pred, self.from_logits)) * paper_weight_map(y_true)
        return _pixel_reduce(weighted, self.reduction_over_pixels)


@keras.utils.register_keras_serializable(package="zoo")
class DiceLoss(_SegmentationLoss):
    """1 - soft Dice per image (see `soft_dice`). `smooth` (1.0) keeps empty masks finite (loss 0 if both empty)."""

    default_name = "dice"
    params = {"smooth": 1.0}

    def call(self, y_true, y_pred):
        return 1.0 - soft_dice(y_true, self.probabilities(y_pred), self.smooth)


@keras.utils.register_keras_serializable(package="zoo")
class JaccardLoss(_SegmentationLoss):
    """1 - soft IoU per image (see `soft_jaccard`); same conventions as `DiceLoss`."""

    default_name = "jaccard"
    params = {"smooth": 1.0}

    def call(self, y_true, y_pred):
        return 1.0 - soft_jaccard(y_true, self.probabilities(y_pred), self.smooth)


@keras.utils.register_keras_serializable(package="zoo")
class BCEJaccardLoss(_SegmentationLoss):
    """bce_weight * BCE (pixel mean) + jaccard_weight * (1 - soft IoU) per image: paper 001's Jaccard-BCE (1:1)."""

    default_name = "bce_jaccard"
    params = {"smooth": 1.0, "bce_weight": 1.0, "jaccard_weight": 1.0}

    def call(self, y_true, y_pred):
        jaccard = 1.0 - soft_jaccard(y_true, self.probabilities(y_pred), self.smooth)
        return self.bce_weight * self.bce(y_true, y_pred) + self.jaccard_weight * jaccard


@keras.utils.register_keras_serializable(package="zoo")
class BCEDiceLoss(_SegmentationLoss):
    """Paper 003's hybrid: alpha * BCE (pixel mean) + (1 - alpha) * (1 - soft Dice), per image.

    Args:
        alpha: weight of the BCE term, in [0, 1] (default 0.5; the paper does not give it).
        smooth: Dice smoothing constant.
    """

    default_name = "bce_dice"
    params = {"alpha": 0.5, "smooth": 1.0}

    def validate(self):
        _check_range("alpha", self.alpha, 0.0, 1.0)

    def call(self, y_true, y_pred):
        dice = 1.0 - soft_dice(y_true, self.probabilities(y_pred), self.smooth)
        return self.alpha * self.bce(y_true, y_pred) + (1.0 - self.alpha) * dice


@keras.utils.register_keras_serializable(package="zoo")
class DiceBCELoss(_SegmentationLoss):
    """Paper 001's Dice-BCE: bce_weight * BCE + dice_weight * (1 - soft Dice), per image (1:1 by default)."""

    default_name = "dice_bce"
    params = {"smooth": 1.0, "bce_weight": 1.0, "dice_weight": 1.0}

    def call(self, y_true, y_pred):
        dice = 1.0 - soft_dice(y_true, self.probabilities(y_pred), self.smooth)
        return self.bce_weight * self.bce(y_true, y_pred) + self.dice_weight * dice


@keras.utils.register_keras_serializable(package="zoo")
class FocalLoss(_SegmentationLoss):
    """Binary focal loss (Lin et al. 2017), mean over pixels; gamma 2 and alpha 0.25 (foreground weight) by default."""

    default_name = "focal"
    params = {"gamma": 2.0, "alpha": 0.25}

    def validate(self):
        _check_range("gamma", self.gamma, 0.0)
        _check_range("alpha", self.alpha, 0.0, 1.0)

    def call(self, y_true, y_pred):
        return per_image_mean(elementwise_focal(y_true, y_pred, self.gamma, self.alpha, self.from_logits))


@keras.utils.register_keras_serializable(package="zoo")
class DiceFocalLoss(FocalLoss):
    """Paper 001's Dice-Focal: focal_weight * focal + dice_weight * (1 - soft Dice), per image (1:1, gamma 2, alpha 0.25)."""

    default_name = "dice_focal"
    params = {"gamma": 2.0, "alpha": 0.25, "smooth": 1.0, "focal_weight": 1.0, "dice_weight": 1.0}

    def call(self, y_true, y_pred):
        dice = 1.0 - soft_dice(y_true, self.probabilities(y_pred), self.smooth)
        return self.focal_weight * super().call(y_true, y_pred) + self.dice_weight * dice


@keras.utils.register_keras_serializable(package="zoo")
class TverskyLoss(_SegmentationLoss):
    """1 - Tversky index per image (see `tversky_index`); alpha 0.3 weighs FP, beta 0.7 FN (Salehi et al.)."""

    default_name = "tversky"
    params = {"alpha": 0.3, "beta": 0.7, "smooth": 1.0}

    def validate(self):
        _check_range("alpha", self.alpha, 0.0)
        _check_range("beta", self.beta, 0.0)

    def call(self, y_true, y_pred):
        return 1.0 - tversky_index(y_true, self.probabilities(y_pred), self.alpha, self.beta, self.smooth)


@keras.utils.register_keras_serializable(package="zoo")
class FocalTverskyLoss(TverskyLoss):
    """(1 - Tversky index) ** (1 / gamma) per image (Abraham & Khan 2019: gamma 4/3, beta 0.7 on FN).

    1 - TI is floored at 1e-7 so the gradient stays finite at a perfect prediction (the power's
    derivative is infinite at 0 for gamma > 1).
    """

    default_name = "focal_tversky"
    params = {"alpha": 0.3, "beta": 0.7, "smooth": 1.0, "gamma": 4.0 / 3.0}

    def validate(self):
        super().validate()
        if self.gamma <= 0:
            raise ValueError(f"gamma must be positive, got {self.gamma}")

    def call(self, y_true, y_pred):
        return tf.pow(tf.maximum(super().call(y_true, y_pred), EPSILON), 1.0 / self.gamma)


@keras.utils.register_keras_serializable(package="zoo")
class ExpLoss(_SegmentationLoss):
    """Exp Loss with static weights (paper 004's baseline "EXP"): w_fg y exp(-P) + w_bg (1-y) exp(-(1-P)) per pixel.

    Args:
        weight_fg, weight_bg: the static class weights (the paper does not give them; 1 and 1 by default).
        pixel_reduction: "mean" over the pixels of an image (default) or "sum".
    """

    default_name = "exp"
    params = {"weight_fg": 1.0, "weight_bg": 1.0, "pixel_reduction": "mean"}

    def validate(self):
        _check_reduction("pixel_reduction", self.pixel_reduction)

    def weights(self, y_true):
        """(foreground weight, background weight), scalars or (batch, 1)."""
        return self.weight_fg, self.weight_bg

    def call(self, y_true, y_pred):
        w_fg, w_bg = self.weights(y_true)
        return _pixel_reduce(exp_loss_map(y_true, self.probabilities(y_pred), w_fg, w_bg), self.pixel_reduction)


@keras.utils.register_keras_serializable(package="zoo")
class AdaptExpLoss(ExpLoss):
    """Paper 004's Adapt Exponential Loss (Eqs. 1-3): Exp Loss with per-image weights from the truth.

    k = foreground fraction of each ground-truth mask, lambda1 = 1 / (k + epsilon) on foreground pixels,
    lambda2 = 1 / (1 - k + epsilon) on background pixels, so both classes weigh about equally. With the
    mean over pixels a perfect prediction scores about 2/e (1/e with one class only), P = 0.5 everywhere
    2 exp(-0.5) = 1.2131, a fully wrong one 2. Works with a sigmoid and a 2-channel softmax head
    (1 - P is then the background channel exactly).

    Args:
        epsilon: keeps lambda finite when k is 0 or 1 (the paper does not give it; 1e-6).
        pixel_reduction: "mean" (default) or "sum" over the pixels of an image.
    """

    default_name = "adapt_exp"
    params = {"epsilon": 1e-6, "pixel_reduction": "mean"}

    def validate(self):
        super().validate()
        if self.epsilon <= 0:
            raise ValueError(f"epsilon must be positive, got {self.epsilon}")

    def weights(self, y_true):
        return adapt_exp_weights(y_true, self.epsilon)


LOSSES = {
    "bce": BinaryCrossEntropy,
    "weighted_bce": WeightedBCE,
    "dice": DiceLoss,
    "jaccard": JaccardLoss,
    "bce_dice": BCEDiceLoss,
    "dice_bce": DiceBCELoss,
    "bce_jaccard": BCEJaccardLoss,
    "jaccard_bce": BCEJaccardLoss,  # paper 001's name for the same loss
    "focal": FocalLoss,
    "dice_focal": DiceFocalLoss,
    "tversky": TverskyLoss,
    "focal_tversky": FocalTverskyLoss,
    "exp": ExpLoss,
    "adapt_exp": AdaptExpLoss,
}


def get_loss(name: str, **kwargs) -> keras.losses.Loss:
    """A fresh loss instance by name (see `LOSSES`), named `name`; keyword arguments go to its constructor.

    Raises:
        ValueError: unknown name (the message lists the valid names) or an argument out of range.
        TypeError: an argument the loss does not take (the message lists those it does).
    """
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; valid names: {', '.join(LOSSES)}")
    return LOSSES[name](**{"name": name, **kwargs})
