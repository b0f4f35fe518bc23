"""Binary segmentation metrics: NumPy scoring for evaluation and pooled Keras metrics for training.

Shapes: `y_true` and `y_pred` are arrays of shape (batch, H, W, 1) (any shape whose first axis
indexes images works, e.g. (batch, H, W)). `y_true` is a binary mask in {0, 1}; `y_pred` holds
probabilities (or logits for the Keras metrics with `from_logits=True`), from a sigmoid head
(..., 1) or a 2-channel softmax head (..., 2) whose channel 1 is the foreground. A pixel is
predicted foreground when its foreground probability is greater than `threshold` (paper 002:
sigmoid output greater than 0.5; for a softmax head that is the argmax); truth is `y_true > 0.5`.

Scores follow paper 002 (Lee & Jhang 2021, Eqs. 30-35): precision, recall, F1 (= Dice), IoU of the
foreground class (the paper's "mIoU" -- not a mean over classes), and the recall-weighted
r.w. F1 = F1 * recall and r.w. IoU = IoU * recall; plus accuracy and specificity (paper 001).
The paper pools TP/FP/FN over all pixels of a test fold; a ratio with a zero denominator is 0
(a fold with no positive prediction reports P = R = 0).

Boundary metrics (per image, in pixels or in `spacing` units): HD95, the 95th percentile of the
surface distances of both directions pooled (MedPy's `hd95`), and ASD, the average symmetric
surface distance (MedPy's `assd`: mean of the two directed mean distances). Written with
`scipy.ndimage` distance transforms because the libraries that have them (MedPy, MONAI) pull in
SimpleITK or PyTorch. Empty masks: both empty -> 0; exactly one empty -> the image diagonal (the
largest distance the image allows), so the value is defined, finite and maximally bad.
"""
from __future__ import annotations

import csv
import io

import numpy as np
import tensorflow as tf
import tf_keras as keras
from scipy import ndimage

from zoo.training.choices import THRESHOLD  # 0.5: training metrics, reports, predict.py

SCORE_KEYS = ("precision", "recall", "f1", "iou", "rw_f1", "rw_iou", "accuracy", "specificity")
BOUNDARY_KEYS = ("hd95", "asd")


# --------------------------------------------------------------------------- NumPy


def foreground(y_pred) -> np.ndarray:
    """Foreground probabilities of a prediction: channel 1 of a (..., 2) softmax output, else unchanged."""
    p = np.asarray(y_pred)
    return p[..., 1:] if p.ndim >= 3 and p.shape[-1] == 2 else p


def _masks(y_true, y_pred, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    t, p = foreground(y_true), foreground(y_pred)
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred shapes differ: {t.shape} vs {p.shape}")
    return t > 0.5, p > threshold


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else 0.0


def confusion_counts(y_true, y_pred, threshold: float = THRESHOLD) -> tuple[int, int, int, int]:
    """(tp, fp, fn, tn) as Python ints over all pixels of the arrays."""
    t, p = _masks(y_true, y_pred, threshold)
    tp = int(np.count_nonzero(t & p))
    fp = int(np.count_nonzero(~t & p))
    fn = int(np.count_nonzero(t & ~p))
    return tp, fp, fn, int(t.size) - tp - fp - fn


def scores_from_counts(tp: int, fp: int, fn: int, tn: int, *, empty_value: float = 0.0) -> dict:
    """Precision, recall, f1 (= Dice), iou, rw_f1, rw_iou, accuracy and specificity from confusion counts.

    A zero denominator gives 0. When there is no foreground in truth or prediction
    (tp = fp = fn = 0), every foreground score (all but accuracy and specificity) is `empty_value`
    instead (0 by default, as pooled over a set; `evaluate_masks` uses 1.0 for single images).
    """
    if tp == fp == fn == 0:
        out = dict.fromkeys(SCORE_KEYS[:-2], float(empty_value))
    else:
        precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
        f1, iou = _ratio(2 * tp, 2 * tp + fp + fn), _ratio(tp, tp + fp + fn)
        out = {"precision": precision, "recall": recall, "f1": f1, "iou": iou,
               "rw_f1": f1 * recall, "rw_iou": iou * recall}
    out["accuracy"] = _ratio(tp + tn, tp + fp + fn + tn)
    out["specificity"] = _ratio(tn, tn + fp)
    return out


def scores_from_precision_recall(precision: float, recall: float) -> dict:
    """f1, iou, rw_f1, rw_iou (and the inputs) from precision and recall alone, as in paper 002's tables.

    IoU = P R / (P + R - P R), which equals TP / (TP + FP + FN). Zero P or R gives 0 scores.
    """
    p, r = float(precision), float(recall)
    f1 = _ratio(2 * p * r, p + r)
    iou = _ratio(p * r, p + r - p * r) if p > 0 and r > 0 else 0.0
    return {"precision": p, "recall": r, "f1": f1, "iou": iou, "rw_f1": f1 * r, "rw_iou": iou * r}


def surface(mask: np.ndarray) -> np.ndarray:
    """The mask's boundary pixels: foreground pixels with a 4-connected background neighbour or on the image edge."""
    mask = np.asarray(mask, bool)
    eroded = ndimage.binary_erosion(mask, ndimage.generate_binary_structure(mask.ndim, 1), border_value=0)
    return mask & ~eroded


def surface_distances(truth, pred, spacing=None) -> tuple[np.ndarray, np.ndarray]:
    """Directed surface distances (pred boundary -> nearest truth boundary, truth -> pred), for non-empty masks."""
    st, sp = surface(truth), surface(pred)
    to_truth = ndimage.distance_transform_edt(~st, sampling=spacing)
    to_pred = ndimage.distance_transform_edt(~sp, sampling=spacing)
    return to_truth[sp], to_pred[st]


def boundary_scores(truth, pred, spacing=None, percentile: float = 95.0) -> dict:
    """HD95 and ASD of one binary mask pair (2-D or 3-D boolean arrays of one shape); see the module docstring.

    Args:
        truth, pred: boolean masks (a trailing channel axis of size 1 is dropped).
        spacing: pixel size per axis (default 1: distances in pixels).
        percentile: 95 for HD95; 100 gives the classic Hausdorff distance.
    """
    t, p = np.asarray(truth, bool), np.asarray(pred, bool)
    if t.shape != p.shape:
        raise ValueError(f"truth and prediction shapes differ: {t.shape} vs {p.shape}")
    if t.ndim > 2 and t.shape[-1] == 1:
        t, p = t[..., 0], p[..., 0]
    has_t, has_p = t.any(), p.any()
    if not has_t and not has_p:
        return {"hd95": 0.0, "asd": 0.0}
    if has_t != has_p:
        scale = np.broadcast_to(np.asarray(1.0 if spacing is None else spacing, float), (t.ndim,))
        diagonal = float(np.sqrt(np.sum((np.array(t.shape) * scale) ** 2)))
        return {"hd95": diagonal, "asd": diagonal}
    d_pt, d_tp = surface_distances(t, p, spacing)
    return {"hd95": float(np.percentile(np.concatenate([d_pt, d_tp]), percentile)),
            "asd": float((d_pt.mean() + d_tp.mean()) / 2)}


def per_image_scores(y_true, y_pred, threshold: float = THRESHOLD, *, boundary: bool = True, names=None) -> list[dict]:
    """One dict per image: `image` (its name or index), tp, fp, fn, tn, every score in `SCORE_KEYS`
    (an image with no foreground in truth and prediction scores 1.0: a perfect prediction) and, with
    `boundary`, hd95 and asd."""
    t, p = _masks(y_true, y_pred, threshold)
    if t.ndim < 2:
        raise ValueError(f"expected (images, ...) arrays, got shape {t.shape}")
    names = list(range(len(t))) if names is None else [str(n) for n in names]
    if len(names) != len(t):
        raise ValueError(f"{len(names)} names for {len(t)} images")
    flat_t, flat_p = t.reshape(len(t), -1), p.reshape(len(p), -1)
    tp = np.count_nonzero(flat_t & flat_p, axis=1)
    fp = np.count_nonzero(~flat_t & flat_p, axis=1)
    fn = np.count_nonzero(flat_t & ~flat_p, axis=1)
    tn = flat_t.shape[1] - tp - fp - fn
    rows = []
    for i, counts in enumerate(zip(tp, fp, fn, tn)):
        counts = tuple(int(c) for c in counts)
        row = {"image": names[i], **dict(zip(("tp", "fp", "fn", "tn"), counts)),
               **scores_from_counts(*counts, empty_value=1.0)}
        if boundary:
            row.update(boundary_scores(t[i], p[i]))
        rows.append(row)
    return rows


def summarize(rows: list[dict]) -> dict:
    """`pooled_<score>` from the summed counts of per-image rows and `image_mean_<score>` (scores and boundary)."""
    counts = [sum(r[k] for r in rows) for k in ("tp", "fp", "fn", "tn")]
    out = {f"pooled_{k}": v for k, v in scores_from_counts(*counts).items()}
    keys = SCORE_KEYS + tuple(k for k in BOUNDARY_KEYS if rows and k in rows[0])
    out.update({f"image_mean_{k}": float(np.mean([r[k] for r in rows])) for k in keys})
    return out


def evaluate_masks(y_true, y_pred, threshold: float = THRESHOLD, *, boundary: bool = False) -> dict:
    """Pooled and per-image-mean scores for a set of images (first axis = images).

    Returns a dict of floats: `pooled_<score>` from TP/FP/FN/TN summed over all pixels of the set
    (how paper 002 scores a fold) and `image_mean_<score>` = the mean over images of each image's
    scores, for every score in `SCORE_KEYS` (and `image_mean_hd95`, `image_mean_asd` with
    `boundary=True`). Convention for the per-image scores: an image with no foreground in truth and
    prediction is a perfect prediction and scores 1.0 for every score.
    """
    return summarize(per_image_scores(y_true, y_pred, threshold, boundary=boundary))


def per_image_csv(rows: list[dict], worst_first: bool = True) -> str:
    """Per-image rows as CSV text, sorted by Dice (f1) from the worst image up unless `worst_first=False`."""
    if worst_first:
        rows = sorted(rows, key=lambda r: (r["f1"], str(r["image"])))
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()} for r in rows)
    return out.getvalue()


# --------------------------------------------------------------------------- Keras


class PooledConfusionMetric(keras.metrics.Metric):
    """Base for streaming metrics: accumulates TP/FP/FN over all batches, reports one ratio of them.

    Pooled over the whole epoch (like paper 002's per-fold scores), not a mean of per-batch ratios.
    A zero denominator gives 0. Counts are float64 so they stay exact on large validation sets.

    Args:
        threshold: a pixel is predicted foreground when its probability is greater than this.
        from_logits: `y_pred` holds logits (a sigmoid is applied first).
        name, dtype: as for any Keras metric.
    """

    default_name = "pooled_confusion"

    def __init__(self, threshold: float = THRESHOLD, from_logits: bool = False, name: str | None = None, dtype=None):
        super().__init__(name=name or self.default_name, dtype=dtype)
        self.threshold = float(threshold)
        self.from_logits = bool(from_logits)
        self.tp = self.add_weight(name="tp", shape=(), initializer="zeros", dtype=tf.float64)
        self.fp = self.add_weight(name="fp", shape=(), initializer="zeros", dtype=tf.float64)
        self.fn = self.add_weight(name="fn", shape=(), initializer="zeros", dtype=tf.float64)

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Add one batch. `sample_weight`, if given, broadcasts per image or per pixel and weights the counts."""
        y_pred = tf.cast(y_pred, tf.float32)
        if y_pred.shape[-1] == 2:  # 2-channel softmax head: channel 1 is the foreground
            y_pred = (tf.nn.softmax(y_pred, axis=-1) if self.from_logits else y_pred)[..., 1:]
        elif self.from_logits:
            y_pred = tf.sigmoid(y_pred)
        if y_true.shape[-1] == 2:
            y_true = y_true[..., 1:]
        truth = tf.cast(tf.reshape(y_true, [-1]) > 0.5, tf.float64)
        pred = tf.cast(tf.reshape(y_pred, [-1]) > self.threshold, tf.float64)
        if sample_weight is not None:
            w = tf.cast(sample_weight, tf.float64)
            w = tf.reshape(w, tf.concat([tf.shape(w), tf.ones([tf.rank(y_pred) - tf.rank(w)], tf.int32)], 0))
            w = tf.reshape(tf.broadcast_to(w, tf.shape(y_pred)), [-1])
        else:
            w = tf.ones_like(truth)
        self.tp.assign_add(tf.reduce_sum(w * truth * pred))
        self.fp.assign_add(tf.reduce_sum(w * (1.0 - truth) * pred))
        self.fn.assign_add(tf.reduce_sum(w * truth * (1.0 - pred)))

    def compute(self, tp, fp, fn) -> tf.Tensor:
        """The score from float64 counts; overridden by each metric."""
        raise NotImplementedError

    def result(self):
        return tf.cast(self.compute(self.tp, self.fp, self.fn), self.dtype)

    def reset_state(self):
        for v in (self.tp, self.fp, self.fn):
            v.assign(tf.zeros_like(v))

    def get_config(self) -> dict:
        return {**super().get_config(), "threshold": self.threshold, "from_logits": self.from_logits}


def _div(a, b):
    return tf.math.divide_no_nan(a, b)


@keras.utils.register_keras_serializable(package="zoo")
class Dice(PooledConfusionMetric):
    """Pooled Dice = F1 = 2TP / (2TP + FP + FN)."""

    default_name = "dice"

    def compute(self, tp, fp, fn):
        return _div(2.0 * tp, 2.0 * tp + fp + fn)


@keras.utils.register_keras_serializable(package="zoo")
class IoU(PooledConfusionMetric):
    """Pooled foreground IoU = TP / (TP + FP + FN) (paper 002's "mIoU")."""

    default_name = "iou"

    def compute(self, tp, fp, fn):
        return _div(tp, tp + fp + fn)


@keras.utils.register_keras_serializable(package="zoo")
class Precision(PooledConfusionMetric):
    """Pooled precision = TP / (TP + FP)."""

    default_name = "precision"

    def compute(self, tp, fp, fn):
        return _div(tp, tp + fp)


@keras.utils.register_keras_serializable(package="zoo")
class Recall(PooledConfusionMetric):
    """Pooled recall = TP / (TP + FN)."""

    default_name = "recall"

    def compute(self, tp, fp, fn):
        return _div(tp, tp + fn)


@keras.utils.register_keras_serializable(package="zoo")
class RecallWeightedF1(PooledConfusionMetric):
    """Pooled r.w. F1 = F1 * recall (paper 002 Eq. 34)."""

    default_name = "rw_f1"

    def compute(self, tp, fp, fn):
        return _div(2.0 * tp, 2.0 * tp + fp + fn) * _div(tp, tp + fn)


@keras.utils.register_keras_serializable(package="zoo")
class RecallWeightedIoU(PooledConfusionMetric):
    """Pooled r.w. IoU = IoU * recall (paper 002 Eq. 35, "r.w. mIoU")."""

    default_name = "rw_iou"

    def compute(self, tp, fp, fn):
        return _div(tp, tp + fp + fn) * _div(tp, tp + fn)


def default_metrics(threshold: float = THRESHOLD, from_logits: bool = False) -> list[PooledConfusionMetric]:
    """Fresh instances of Dice, IoU, Precision, Recall, RecallWeightedF1 and RecallWeightedIoU."""
    classes = (Dice, IoU, Precision, Recall, RecallWeightedF1, RecallWeightedIoU)
    return [cls(threshold=threshold, from_logits=from_logits) for cls in classes]
