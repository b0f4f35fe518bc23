"""Keras callbacks of a run: learning-rate and prediction-image logs, weight histograms grouped by stage,
scores of the training split in inference mode, a stop on a non-finite loss that keeps the last good
checkpoint, checkpoints that are never half-written, and resumable runs (`BackupAndRestore` plus history
bookkeeping)."""
from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import tensorflow as tf
import tf_keras as keras

from zoo.files import PARTIAL, atomic_path
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


class ScalarTensorBoard(keras.callbacks.TensorBoard):
    """Keras' `TensorBoard` without its `evaluation_<metric>_vs_iterations` tags: Keras writes each validation
    score a second time against the optimizer step, which repeats `epoch_val_*` on another x axis."""

    def on_test_end(self, logs=None):
        self._pop_writer()


# --- weight histograms -------------------------------------------------------------------------

HISTOGRAMS = ("kernels", "all")  # --histograms: conv (and dense) kernels only, or every weight
_DESCRIPTION = re.compile(r"^layer=(?P<layer>\S+) weight=(?P<weight>\S+)")


def stage_plans() -> dict:
    """{model: Stages} of every registered model whose entry says how its convs group into stages."""
    from zoo.models.registry import get_model_entry, list_models

    return {n: e.stages for n in list_models(pairs=False) if (e := get_model_entry(n)).stages is not None}


def layer_place(name: str, model: str | None = None) -> tuple[str, str]:
    """(group, branch) of a conv layer by the stage rules of `model`'s registry entry (of every entry when
    `model` is None or has none); a conv no rule places is a group of its own (`stem_conv` -> stem, conv)."""
    plans = stage_plans()
    for plan in ([plans[model]] if model in plans else plans.values()):
        if place := plan.place(name):
            return place
    return name.removesuffix("_conv"), "conv"


def group_order(group: str) -> tuple:
    """Sort key of a stage group: stem, stages by number, Res paths, head, anything else."""
    kind = re.match(r"[a-z]+", group)
    number = re.search(r"\d+", group)
    rank = {"stem": 0, "stage": 1, "respath": 2, "head": 3}.get(kind[0] if kind else "", 4)
    return rank, int(number[0]) if number else 0, group


def _weight_name(weight) -> str:
    return weight.name.split(":")[0].rsplit("/", 1)[-1]


def _is_kernel(weight) -> bool:
    return _weight_name(weight).endswith("kernel")  # kernel, depthwise_kernel, pointwise_kernel


def histogram_tags(model, model_name: str | None = None, what: str = "kernels") -> list[tuple[str, object, str]]:
    """(tag, weight, description) of the weights to histogram, tagged `<NN>_<group>/<layer>[/<weight>]`.

    TensorBoard groups tags by the part before the first `/` and sorts groups and tags alphabetically, so
    the number puts the groups in network order. Groups are the stages of the model's registry entry
    (`Stages`: stem, stage 0 ... 8, Res paths, head), as the kernel-histogram analysis reads them; a
    model without stage rules is grouped by the first part of its layer names (`decoder2_1_conv` ->
    `decoder2`) in the order the layers appear in the graph. A kernel's tag is its layer name without the
    group and `_conv` (`03_stage1/mrb_m2`); with `what="all"` the other weights follow their layer's kernel
    (`03_stage1/mrb_m2_bn/gamma`: a BatchNorm joins the kernel layer whose name it shares most of). The
    description records the exact layer and weight (`layer=stage1_mrb_m2_conv weight=kernel`), which is
    what `zoo.tools.histograms.read_kernel_histograms` reads."""
    if what not in HISTOGRAMS:
        raise ValueError(f"--histograms: unknown value {what!r}; choose from {', '.join(HISTOGRAMS)}")
    plan = stage_plans().get(model_name or model.name)
    layers = [l for l in model.layers if l.weights]
    kernel_layers = [l for l in layers if any(_is_kernel(w) for w in l.weights)]

    def own_group(name: str) -> str:
        if plan is not None and (place := plan.place(name)):
            return place[0]
        return re.split(r"[_/]", name.removesuffix("_conv"), maxsplit=1)[0] or name

    group = {l.name: own_group(l.name) for l in kernel_layers}
    for l in layers:
        if l.name not in group:  # BatchNorm etc.: the kernel layer with the longest shared name prefix
            shared = [(len(_common_prefix(l.name, k.name)), i) for i, k in enumerate(kernel_layers)]
            group[l.name] = group[kernel_layers[max(shared)[1]].name] if shared and max(shared)[0] else \
                own_group(l.name)
    first = {}
    for l in layers:
        first.setdefault(group[l.name], len(first))
    key = (lambda g: (group_order(g), first[g])) if plan is not None else first.get
    ordered = sorted(first, key=key)
    width = max(2, len(str(len(ordered))))
    number = {g: f"{i:0{width}d}_{g}" for i, g in enumerate(ordered, 1)}
    out, seen = [], set()
    for l in layers:
        g = group[l.name]
        short = l.name[len(g) + 1:] if l.name.startswith(g + "_") and len(l.name) > len(g) + 1 else l.name
        for w in l.weights:
            if not (what == "all" or _is_kernel(w)):
                continue
            weight = _weight_name(w)
            leaf = short.removesuffix("_conv") if weight == "kernel" else f"{short}/{weight}"
            tag = f"{number[g]}/{leaf or l.name}"
            if tag in seen:
                tag = f"{number[g]}/{l.name}/{weight}"
            seen.add(tag)
            out.append((tag, w, f"layer={l.name} weight={weight} shape={'x'.join(map(str, w.shape))}"))
    return sorted(out, key=lambda t: t[0])


def _common_prefix(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def parse_histogram_description(text: str) -> tuple[str, str] | None:
    """(layer, weight) from a histogram written by `WeightHistograms`, else None."""
    m = _DESCRIPTION.match(text or "")
    return (m["layer"], m["weight"]) if m else None


class WeightHistograms(keras.callbacks.Callback):
    """Weight histograms every `freq` epochs (step = epoch, as Keras' own), tagged by `histogram_tags`: kernels
    only (`what="kernels"`) or every weight (`"all"`). Writes through `tensorboard`'s training writer (the
    `tb/train` run, one event file with the scalars; on a non-chief worker Keras' scratch folder), or into
    `log_dir` when no `ScalarTensorBoard` is given."""

    def __init__(self, log_dir=None, *, tensorboard=None, model_name: str | None = None, what: str = "kernels",
                 freq: int = 1):
        super().__init__()
        if what not in HISTOGRAMS:
            raise ValueError(f"--histograms: unknown value {what!r}; choose from {', '.join(HISTOGRAMS)}")
        self.log_dir, self.tensorboard, self.model_name, self.what, self.freq = log_dir, tensorboard, model_name, \
            what, freq
        self._writer, self._tags = None, None

    def _get_writer(self):
        if self.tensorboard is not None and hasattr(self.tensorboard, "_train_writer"):
            return self.tensorboard._train_writer  # noqa: SLF001 - the run Keras' scalars go to
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(str(self.log_dir))
        return self._writer

    def on_epoch_end(self, epoch, logs=None):
        if not self.freq or epoch % self.freq:
            return
        if self._tags is None:
            self._tags = histogram_tags(self.model, self.model_name, self.what)
        writer = self._get_writer()
        with writer.as_default(), tf.summary.record_if(True):
            for tag, weight, description in self._tags:
                tf.summary.histogram(tag, weight, step=epoch, description=description)
        writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()


# --- training split scored as validation is -----------------------------------------------------

class TrainingSplitScores(keras.callbacks.Callback):
    """At each epoch end, scores `dataset` (training images, no augmentation) in inference mode, as the
    validation split is scored, and adds `train_eval_<metric>` to the epoch logs (history.csv).

    The `loss` / `dice` / ... Keras logs for training are running values over the epoch's augmented batches
    with BatchNorm in training mode (statistics of each batch); these are comparable with `val_*`. With
    `log_dir` they also go to TensorBoard as `epoch_<metric>` of their own run (`tb/train_eval`), so each
    scalar chart shows train, train_eval and validation side by side. Put it after the `TensorBoard`
    callback (whose `tb/train` run then does not repeat them) and before the CSV logger."""

    prefix = "train_eval_"

    def __init__(self, dataset, log_dir=None):
        super().__init__()
        self.dataset, self.log_dir, self._writer = dataset, log_dir, None

    def on_epoch_end(self, epoch, logs=None):
        scores = self.model.evaluate(self.dataset, verbose=0, return_dict=True)
        if logs is not None:
            logs.update({self.prefix + k: float(v) for k, v in scores.items()})
        if self.log_dir is None:
            return
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(str(self.log_dir))
        with self._writer.as_default(), tf.summary.record_if(True):
            for k, v in scores.items():
                tf.summary.scalar(f"epoch_{k}", float(v), step=epoch)
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()


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


WRITTEN_AT_TRAIN_START = ("keras",)  # Keras' TensorBoard writes the model's config as text `keras` at each fit


def trim_tensorboard(tb_dir, epochs: int) -> list[Path]:
    """Keep the events of the first `epochs` epochs in every TensorBoard event file under `tb_dir` (scalars,
    histograms, images of every writer: train/, validation/, train_eval/, images/, ...), as `trim_history`
    does for history.csv: the backup is the commit point, and a killed run may have logged an epoch its backup
    does not have, which the resumed run logs again. Summaries at step >= `epochs` (step = epoch) are dropped,
    and the model graph and Keras' model summary (the resumed run writes them again at step 0); a record cut off
    by the kill ends the file. Files are replaced atomically; returns the rewritten ones."""
    rewritten = []
    for path in sorted(Path(tb_dir).rglob("*tfevents*")) if Path(tb_dir).is_dir() else []:
        if not path.is_file() or PARTIAL in path.name:
            continue
        kept, dropped = [], 0
        try:
            for raw in tf.data.TFRecordDataset(str(path)).as_numpy_iterator():
                event = tf.compat.v1.Event.FromString(raw)
                stale = event.HasField("summary") and (event.step >= epochs or all(
                    v.tag in WRITTEN_AT_TRAIN_START for v in event.summary.value))
                if stale or event.HasField("graph_def") or event.HasField("meta_graph_def"):
                    dropped += 1
                else:
                    kept.append(raw)
        except tf.errors.DataLossError:  # a record cut off when the process was killed
            dropped += 1
        if dropped:
            with atomic_path(path) as tmp:
                with tf.io.TFRecordWriter(str(tmp)) as writer:
                    for raw in kept:
                        writer.write(raw)
            rewritten.append(path)
    return rewritten


def best_in_history(rows: list[dict], monitor: str) -> float | None:
    """Highest finite value of `monitor` in history rows (the threshold a resumed best-checkpoint must beat)."""
    values = [float(r[monitor]) for r in rows if r.get(monitor) not in (None, "")]
    values = [v for v in values if np.isfinite(v)]
    return max(values) if values else None


