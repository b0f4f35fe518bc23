"""Keras callbacks of a run: learning-rate and prediction-image logs, a stop on a non-finite loss that keeps
the last good checkpoint, checkpoints that are never half-written, and resumable runs (`BackupAndRestore`
plus history bookkeeping)."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import tensorflow as tf
import tf_keras as keras

from zoo.files import atomic_path
from zoo.training.faults import NonFiniteLoss

class LearningRateLogger(keras.callbacks.Callback):
    """Puts the optimizer's current learning rate into the epoch logs (so TensorBoard and the CSV get it)."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            opt = self.model.optimizer
            lr = opt.learning_rate
            logs["learning_rate"] = float(lr(opt.iterations) if callable(lr) else keras.backend.get_value(lr))


class PredictionImages(keras.callbacks.Callback):
    """Writes input / truth / prediction image triplets to TensorBoard every `freq` epochs.

    `images` are shown as they are ([0, 1]); the model is fed `inputs` (their normalised form; default `images`)."""

    def __init__(self, log_dir: str, images: np.ndarray, masks: np.ndarray, freq: int = 1, inputs=None):
        super().__init__()
        self.writer = tf.summary.create_file_writer(log_dir)
        self.images, self.masks, self.freq = images, masks, max(1, freq)
        self.inputs = images if inputs is None else inputs

    def on_epoch_end(self, epoch, logs=None):
        if epoch % self.freq:
            return
        pred = self.model.predict(self.inputs, verbose=0)[..., :1]
        rgb = self.images if self.images.shape[-1] == 3 else np.repeat(self.images, 3, -1)
        grey = lambda m: np.repeat(m, 3, -1)  # noqa: E731
        strip = np.concatenate([rgb, grey(self.masks), grey(pred), grey((pred > 0.5).astype(np.float32))], axis=2)
        with self.writer.as_default():
            tf.summary.image("input | truth | probability | prediction", strip, step=epoch,
                             max_outputs=len(strip))
        self.writer.flush()


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Raises `NonFiniteLoss` at the first batch whose loss is NaN or infinite, saying at which step.

    Raising (instead of `stop_training`) skips every later `on_epoch_end`, so no checkpoint or backup is
    written from the broken weights: the files of the last completed epoch stay as they are. Put it
    first in the callback list so its epoch-end check (validation loss) also runs before any save.
    """

    def __init__(self, checkpoint: Path | str | None = None):
        super().__init__()
        self.checkpoint, self.epoch = checkpoint, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def _fail(self, what: str, value, where: str):
        kept = (f"kept the last good checkpoint {self.checkpoint} (epoch {self.epoch})" if self.epoch and self.checkpoint
                else "no checkpoint was written before it")
        raise NonFiniteLoss(f"{what} became {value} {where}; training stopped and {kept}; "
                            "lower --lr or check the data")

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            step = int(keras.backend.get_value(self.model.optimizer.iterations))
            self._fail("loss", float(loss), f"at step {step} (epoch {self.epoch + 1}, batch {batch + 1})")

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("val_loss")
        if loss is not None and not np.isfinite(loss):
            self._fail("validation loss", float(loss), f"at the end of epoch {epoch + 1}")


class AtomicModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """`ModelCheckpoint` that saves to a temporary file and renames it onto the checkpoint name."""

    def _save_handler(self, filepath):
        with atomic_path(filepath) as tmp:
            super()._save_handler(str(tmp))


# --- resuming --------------------------------------------------------------------------------

def make_backup(backup_dir) -> keras.callbacks.BackupAndRestore:
    """Epoch-end backup of model, optimizer (hence the learning-rate schedule's step) and epoch counter.
    Put it last in the callback list, so the epoch's logs and checkpoints are on disk before it counts as done."""
    return keras.callbacks.BackupAndRestore(str(backup_dir), save_freq="epoch", delete_checkpoint=False)


def completed_epochs(backup_dir) -> int:
    """Epochs finished according to the `BackupAndRestore` checkpoint in `backup_dir` (0 without one)."""
    latest = tf.train.latest_checkpoint(str(Path(backup_dir) / "chief"))
    if not latest:
        return 0
    epoch = tf.train.load_checkpoint(latest).get_tensor("ckpt_saved_epoch/.ATTRIBUTES/VARIABLE_VALUE")
    return int(epoch) + 1


def trim_history(csv_path, epochs: int, *, write: bool = True) -> list[dict]:
    """Keep the rows of the first `epochs` epochs in a `CSVLogger` file (a killed run may have logged an
    epoch its backup does not have; that epoch runs again). Returns the kept rows; `write=False` only reads."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        return []
    with open(csv_path, newline="") as f:
        reader = csv.DictReader(f)
        fields = reader.fieldnames or []
        rows = [r for r in reader if r.get("epoch", "").isdigit() and int(r["epoch"]) < epochs]
    if not write:
        return rows
    if not rows:
        csv_path.unlink()
        return []
    with atomic_path(csv_path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return rows


def best_in_history(rows: list[dict], monitor: str) -> float | None:
    """Highest finite value of `monitor` in history rows (the threshold a resumed best-checkpoint must beat)."""
    values = [float(r[monitor]) for r in rows if r.get(monitor) not in (None, "")]
    values = [v for v in values if np.isfinite(v)]
    return max(values) if values else None


