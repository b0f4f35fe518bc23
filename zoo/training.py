"""Training pieces that `train.py` wires together: optimizers, learning-rate schedules,
TensorBoard image summaries and full-size evaluation."""
from __future__ import annotations

import numpy as np
import tensorflow as tf
import tf_keras as keras

from zoo.data import DataConfig, read_image, read_mask, fit_to_size, restore_size
from zoo.metrics import evaluate_masks

OPTIMIZERS = {
    "adam": keras.optimizers.Adam,
    "sgd": keras.optimizers.SGD,
    "rmsprop": keras.optimizers.RMSprop,
    "adagrad": keras.optimizers.Adagrad,
    "adadelta": keras.optimizers.Adadelta,
    "adamax": keras.optimizers.Adamax,
    "nadam": keras.optimizers.Nadam,
}
LR_SCHEDULES = ("constant", "exponential", "cosine")


def make_learning_rate(lr: float, schedule: str, total_steps: int, *, decay_steps=800, decay_rate=0.96):
    """A float or a Keras schedule. `exponential` is paper 002's 4 % decay every 800 steps
    (continuous; the paper does not say staircase); `cosine` decays to 0 over `total_steps`."""
    if schedule == "constant":
        return lr
    if schedule == "exponential":
        return keras.optimizers.schedules.ExponentialDecay(lr, decay_steps=decay_steps, decay_rate=decay_rate)
    if schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(lr, decay_steps=max(1, total_steps))
    raise ValueError(f"unknown learning-rate schedule {schedule!r}; choose from {', '.join(LR_SCHEDULES)}")


def make_optimizer(name: str, learning_rate):
    """An optimizer by name (see `OPTIMIZERS`) with Keras defaults otherwise (Adam eps 1e-7, as paper 002)."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name](learning_rate=learning_rate)


class LearningRateLogger(keras.callbacks.Callback):
    """Puts the optimizer's current learning rate into the epoch logs (so TensorBoard and the CSV get it)."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            opt = self.model.optimizer
            lr = opt.learning_rate
            logs["learning_rate"] = float(lr(opt.iterations) if callable(lr) else keras.backend.get_value(lr))


class PredictionImages(keras.callbacks.Callback):
    """Writes input / truth / prediction image triplets to TensorBoard every `freq` epochs."""

    def __init__(self, log_dir: str, images: np.ndarray, masks: np.ndarray, freq: int = 1):
        super().__init__()
        self.writer = tf.summary.create_file_writer(log_dir)
        self.images, self.masks, self.freq = images, masks, max(1, freq)

    def on_epoch_end(self, epoch, logs=None):
        if epoch % self.freq:
            return
        pred = self.model.predict(self.images, verbose=0)[..., :1]
        rgb = self.images if self.images.shape[-1] == 3 else np.repeat(self.images, 3, -1)
        grey = lambda m: np.repeat(m, 3, -1)  # noqa: E731
        strip = np.concatenate([rgb, grey(self.masks), grey(pred), grey((pred > 0.5).astype(np.float32))], axis=2)
        with self.writer.as_default():
            tf.summary.image("input | truth | probability | prediction", strip, step=epoch,
                             max_outputs=len(strip))
        self.writer.flush()


def evaluate_at_original_size(model, pairs, cfg: DataConfig, threshold=0.5, batch_size=4) -> dict:
    """Predict each image at model size, map the probabilities back to the image's original size and
    score them against the original-size mask. Returns pooled and per-image-mean scores."""
    truths, preds = [], []
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start:start + batch_size]
        originals = [read_image(p[0], cfg.channels) for p in chunk]
        batch = np.stack([fit_to_size(img, None, cfg)[0] for img in originals])
        probs = model.predict(batch, verbose=0)
        for (_, mask_path), img, prob in zip(chunk, originals, probs):
            truths.append(read_mask(mask_path, cfg.mask_threshold, cfg.mask_invert)[..., 0])
            preds.append(restore_size(prob[..., :1], img.shape[:2], cfg)[..., 0])
    return evaluate_masks_list(truths, preds, threshold)


def evaluate_masks_list(truths, preds, threshold=0.5) -> dict:
    """`evaluate_masks` for images of different sizes: pooled counts over all, mean over images."""
    if len({t.shape for t in truths}) == 1:
        return evaluate_masks(np.stack(truths), np.stack(preds), threshold)
    per_image = [evaluate_masks(t[None], p[None], threshold) for t, p in zip(truths, preds)]
    from zoo.metrics import confusion_counts, scores_from_counts

    counts = np.sum([confusion_counts(t, p, threshold) for t, p in zip(truths, preds)], axis=0)
    out = {f"pooled_{k}": v for k, v in scores_from_counts(*(int(c) for c in counts)).items()}
    for key in per_image[0]:
        if key.startswith("image_mean_"):
            out[key] = float(np.mean([r[key] for r in per_image]))
    return out
