"""The backup is the commit point for TensorBoard too: a run killed after an epoch's events were written but
before its backup logs that epoch again on resume, and TensorBoard must still hold one value per step."""
import shutil

import numpy as np
import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import train
from zoo.training import callbacks

FAST = ["--model", "quarter_multiresunet", "--image-size", "32", "--no-augment", "--histogram-freq", "1"]


def _steps_by_tag(log_dir) -> dict:
    """{tag: [steps]} of every tensor summary (scalars, histograms, images) in one TensorBoard run folder."""
    acc = EventAccumulator(str(log_dir), size_guidance={"tensors": 0, "images": 0, "histograms": 0})
    acc.Reload()
    return {tag: [e.step for e in acc.Tensors(tag)] for tag in acc.Tags()["tensors"]}


def _runs(tb_dir) -> list:
    return sorted({p.parent for p in tb_dir.rglob("*tfevents*")})


def test_trim_tensorboard_keeps_only_backed_up_epochs(tmp_path):
    for run in ("train", "validation", "images"):
        writer = tf.summary.create_file_writer(str(tmp_path / run))
        with writer.as_default():
            for step in range(3):
                tf.summary.scalar("epoch_loss", 1.0 / (step + 1), step=step)
                tf.summary.histogram("kernel", np.arange(4.0) * step, step=step)
        writer.close()
    event_file = next((tmp_path / "train").glob("*tfevents*"))
    blob = event_file.read_bytes()
    event_file.write_bytes(blob + blob[-40:-7])  # a record cut off by the kill
    rewritten = callbacks.trim_tensorboard(tmp_path, 2)
    assert len(rewritten) == 3
    for run in ("train", "validation", "images"):
        assert _steps_by_tag(tmp_path / run) == {"epoch_loss": [0, 1], "kernel": [0, 1]}, run
    assert callbacks.trim_tensorboard(tmp_path, 2) == []  # nothing left to drop: files untouched
    assert not [p for p in tmp_path.rglob("*partial*")]


def test_resume_after_an_epoch_logged_but_not_backed_up_has_one_value_per_step(tmp_path):
    run = tmp_path / "runs" / "tb"
    assert train.main(["--output", str(run.parent), "--name", "tb", "--epochs", "1", *FAST]) == 0
    backup_after_epoch_1 = tmp_path / "backup1"
    shutil.copytree(run / "backup", backup_after_epoch_1)
    assert train.main(["--resume", str(run), "--epochs", "2"]) == 0
    # Killed after epoch 2 wrote its TensorBoard events (and history row), before its backup: the backup on
    # disk is still epoch 1's.
    shutil.rmtree(run / "backup")
    shutil.copytree(backup_after_epoch_1, run / "backup")
    assert callbacks.completed_epochs(run / "backup") == 1
    assert train.main(["--resume", str(run), "--epochs", "2"]) == 0

    runs = _runs(run / "tb")
    assert {p.name for p in runs} >= {"train", "validation", "train_eval", "images"}
    for log_dir in runs:
        for tag, steps in _steps_by_tag(log_dir).items():  # scalars, histograms and images alike
            assert len(steps) == len(set(steps)), f"{log_dir.name}/{tag}: steps {steps}"
    scalars = _steps_by_tag(run / "tb" / "validation")
    assert scalars["epoch_loss"] == [0, 1] and scalars["epoch_dice"] == [0, 1]
    assert _steps_by_tag(run / "tb" / "train")["epoch_loss"] == [0, 1]
