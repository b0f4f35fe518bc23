"""Training pieces that `train.py` wires together: optimizers, learning-rate schedules,
TensorBoard image summaries, full-size evaluation, and the reliability parts: atomic file writes,
checkpoints that are never half-written, a stop on a non-finite loss that keeps the last good
checkpoint, resumable runs (`BackupAndRestore` plus history bookkeeping) and safe model loading."""
from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import tensorflow as tf
import tf_keras as keras

from zoo.data import DataConfig, read_image, read_mask, fit_to_size, normalize, restore_size

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


def evaluate_at_original_size(model, pairs, cfg: DataConfig, threshold=0.5, batch_size=4, per_image_csv=None) -> dict:
    """Predict each image at model size, map the probabilities back to the image's original size and
    score them against the original-size mask. Returns pooled and per-image-mean scores (HD95 and ASD
    included); with `per_image_csv` (a path) also writes every image's scores there, worst Dice first."""
    from zoo import metrics

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


# --- faults with one-line messages -----------------------------------------------------------

class TrainingFault(RuntimeError):
    """Training stopped for a reason the user can act on; the message is one line."""


class NonFiniteLoss(TrainingFault):
    """The loss became NaN or infinite; the checkpoints of the last good epoch are kept."""


class OutOfMemory(TrainingFault):
    """Training ran out of memory; the message says which setting to lower."""


class XlaCompileError(TrainingFault):
    """`--jit-compile` was asked for a model or op that XLA cannot compile."""


class ModelFileError(ValueError):
    """A model file that is missing, corrupt, not a Keras model, or unsafe to load; one line naming it."""


@contextlib.contextmanager
def out_of_memory_hint(batch_size: int, image_size, width: float):
    """Turns TensorFlow's out-of-memory errors into `OutOfMemory` naming the settings to lower."""
    try:
        yield
    except (tf.errors.ResourceExhaustedError, MemoryError) as e:
        kind = "host memory" if isinstance(e, MemoryError) else "accelerator/host memory"
        raise OutOfMemory(f"out of {kind} at --batch-size {batch_size}, --image-size {image_size[0]}x{image_size[1]}, "
                          f"--width {width:g}; lower --batch-size first, then --image-size or --width") from None


@contextlib.contextmanager
def xla_failure_hint(jit_compile: bool, model_name: str):
    """With XLA on, turns a compilation failure into `XlaCompileError` naming the op and the way out."""
    try:
        yield
    except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError, tf.errors.InternalError) as e:
        text = " ".join(str(getattr(e, "message", e)).split())
        if not jit_compile or not any(k in text for k in ("XLA", "xla", "jit", "compil")):
            raise
        op = re.search(r"unsupported operations?[^:]*: ?(\S+)|op '?(\w+)'? .{0,40}(?:not|un)supported", text, re.I)
        name = next((g for g in (op.groups() if op else ()) if g), None)
        hint = " or --model-arg upsample=bilinear" if name == "ResizeNearestNeighborGrad" else ""
        raise XlaCompileError(f"--jit-compile: XLA cannot compile {model_name}"
                              f"{f' (op {name})' if name else ''}; run without --jit-compile{hint}") from None


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


# --- atomic files ----------------------------------------------------------------------------

PARTIAL = ".partial"  # marker in temporary file names; `remove_partial_files` cleans up after a crash
_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read the process umask once: temporary files get the permissions a plain open() would give


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path beside `path` (same suffix); on success it is renamed onto `path`.

    The rename is atomic, so `path` always holds either the old or the complete new file, never a
    half-written one; on an exception the temporary file is removed and `path` is untouched.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=PARTIAL + path.suffix)
    os.close(fd)
    tmp = Path(tmp)
    os.chmod(tmp, 0o666 & ~_UMASK)
    try:
        yield tmp
        if tmp.is_file():
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path, text: str) -> None:
    """Write a text file atomically (temporary file in the same folder, then rename)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def atomic_write_bytes(path, blob: bytes) -> None:
    """Write a binary file atomically (temporary file in the same folder, then rename)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(blob)


def remove_partial_files(folder) -> list[Path]:
    """Delete temporary files a killed process left behind in `folder` and its subfolders."""
    found = [p for p in Path(folder).rglob(f".*{PARTIAL}*") if p.is_file()]
    for p in found:
        p.unlink()
    return found


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


# --- loading models --------------------------------------------------------------------------

def _load_for_inference(path: Path):
    """Keras' own loader reads the weights through a zip stream that rereads the archive from its start
    on every backward seek (minutes for a few-MB model); reading config and weights out first is exact
    and takes seconds. Safe mode as in Keras: no Python code from the file runs."""
    with zipfile.ZipFile(path) as z:
        config = json.loads(z.read("config.json"))
        weights = z.read("model.weights.h5") if "model.weights.h5" in z.namelist() else None
    if weights is None:
        return keras.models.load_model(path, safe_mode=True, compile=False)
    config["compile_config"] = None
    model = keras.saving.deserialize_keras_object(config, safe_mode=True)
    with tempfile.TemporaryDirectory() as tmp:
        weights_path = Path(tmp) / "model.weights.h5"
        weights_path.write_bytes(weights)
        model.load_weights(weights_path)
    return model


def load_model(path, *, compile: bool = True):
    """Load a `.keras` model file in Keras safe mode (no Python code from the file runs, so a Lambda
    layer is refused). Raises `ModelFileError` with one line naming the file for anything else."""
    import zoo.losses  # noqa: F401  registers the custom losses and metrics the files refer to
    import zoo.metrics  # noqa: F401

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found")
    if path.suffix != ".keras":
        raise ModelFileError(f"{path}: not a Keras model file (expected a .keras file written by model.save)")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(f"{path}: corrupt or not a Keras model file (not a complete .keras zip archive)")
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            bad = z.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise ModelFileError(f"{path}: corrupt model file ({e})") from None
    if bad is not None:
        raise ModelFileError(f"{path}: corrupt model file (damaged entry {bad})")
    if "config.json" not in names:
        raise ModelFileError(f"{path}: not a Keras model file (zip archive without config.json)")
    try:
        if compile:
            return keras.models.load_model(path, safe_mode=True, compile=True)
        return _load_for_inference(path)
    except Exception as e:  # noqa: BLE001 - any failure to load becomes one line naming the file
        text = " ".join(str(e).split()) or e.__class__.__name__
        if "safe_mode" in text or "lambda" in text.lower():
            raise ModelFileError(f"{path}: refused to load: the file contains Python code (a Lambda layer), "
                                 "which safe mode does not run") from None
        raise ModelFileError(f"{path}: cannot load model ({e.__class__.__name__}: {text[:300]})") from None
