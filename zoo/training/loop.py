"""The training loop's parts: optimizers, learning-rate schedules and full-size evaluation."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import tf_keras as keras

from zoo.files import atomic_write_text
from zoo.training.data import DataConfig, read_image, read_mask, fit_to_size, normalize, restore_size

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


def evaluate_at_original_size(model, pairs, cfg: DataConfig, threshold=0.5, batch_size=4, per_image_csv=None) -> dict:
    """Predict each image at model size, map the probabilities back to the image's original size and
    score them against the original-size mask. Returns pooled and per-image-mean scores (HD95 and ASD
    included); with `per_image_csv` (a path) also writes every image's scores there, worst Dice first."""
    from zoo.training import metrics

    rows = []
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start:start + batch_size]
        originals = [read_image(p[0], cfg.channels) for p in chunk]
        batch = np.stack([fit_to_size(img, None, cfg)[0] for img in originals])
        probs = model.predict(normalize(batch, cfg), verbose=0)
        for (image_path, mask_path), img, prob in zip(chunk, originals, probs):
            truth = read_mask(mask_path, cfg.mask_threshold, cfg.mask_invert)[..., 0]
            pred = restore_size(metrics.foreground(prob), img.shape[:2], cfg)[..., 0]
            rows += metrics.per_image_scores(truth[None], pred[None], threshold, names=[Path(image_path).name])
    if per_image_csv is not None:
        atomic_write_text(per_image_csv, metrics.per_image_csv(rows))
    return metrics.summarize(rows)

