"""tf.distribute on a CPU-only machine: MirroredStrategy over 2 logical CPU devices follows the same loss
trajectory as one device with the same global batch; metrics pool confusion counts across replicas;
two local MultiWorkerMirroredStrategy workers train one model, only the chief writes, and after a
worker is killed the restarted cluster resumes from the BackupAndRestore checkpoint."""
import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import train
from conftest import ROOT
from zoo.training import distribute, callbacks
from zoo import files

# Runs train.main in a fresh process whose CPU is split into N logical devices (must precede TF start-up).
WITH_LOGICAL_CPUS = """
import sys
import zoo
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * int(sys.argv[1]))
{body}
"""
TINY = ["--model", "quarter_multiresunet", "--image-size", "32", "--no-augment", "--histogram-freq", "0"]


def _history(run_dir):
    with open(run_dir / "history.csv", newline="") as f:
        return list(csv.DictReader(f))


def _train_with_cpus(n_cpus, args):
    code = WITH_LOGICAL_CPUS.format(body="import train\nsys.exit(train.main(sys.argv[2:]))")
    proc = subprocess.run([sys.executable, "-c", code, str(n_cpus), *args], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_mirrored_over_two_cpu_devices_matches_one_device(tmp_path):
    # No BatchNorm: its statistics are per replica by design, the one thing that may differ.
    common = [*TINY, "--model-arg", "batch_norm=False", "--epochs", "3", "--batch-size", "4", "--loss", "bce",
              "--output", str(tmp_path)]
    one = _train_with_cpus(1, [*common, "--strategy", "default", "--name", "one"])
    two = _train_with_cpus(2, [*common, "--strategy", "mirrored", "--name", "two"])
    assert "1 replica(s)" in one and "MirroredStrategy with 2 replica(s)" in two
    a, b = _history(tmp_path / "one"), _history(tmp_path / "two")
    assert len(a) == len(b) == 3
    for key in ("loss", "val_loss"):
        assert [float(r[key]) for r in b] == pytest.approx([float(r[key]) for r in a], rel=1e-4), key
    assert float(a[-1]["loss"]) < float(a[0]["loss"])  # it did train


def test_metrics_pool_confusion_counts_across_replicas():
    # Replica 0 sees a large, perfectly predicted object, replica 1 a small one predicted entirely wrong:
    # per-replica Dice is 1 and 0 (their mean 0.5); pooled over both it is 2*64/(2*64 + 4 + 4) = 0.941.
    body = """
import numpy as np, tf_keras as keras
from zoo.training.metrics import Dice
y = np.zeros((2, 16, 16, 1), np.float32); p = np.zeros_like(y)
y[0, :8, :8] = 1; p[0, :8, :8] = 1
y[1, 0, :4] = 1; p[1, 15, :4] = 1
strategy = tf.distribute.MirroredStrategy(devices=["/cpu:0", "/cpu:1"])
with strategy.scope():
    model = keras.Sequential([keras.layers.Activation("linear", input_shape=(16, 16, 1))])
    model.compile(loss="mse", metrics=[Dice()])
print("replicas", strategy.num_replicas_in_sync)
print("dice", model.evaluate(p, y, batch_size=2, verbose=0)[1])
"""
    proc = subprocess.run([sys.executable, "-c", WITH_LOGICAL_CPUS.format(body=body), "2"], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = dict(line.split() for line in proc.stdout.splitlines() if line.startswith(("replicas", "dice")))
    assert out["replicas"] == "2"
    assert float(out["dice"]) == pytest.approx(128 / 136, abs=1e-6)


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _start_workers(args, log_dir, tag):
    ports = _free_ports(2)
    procs = []
    for index in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                                                     "task": {"type": "worker", "index": index}}))
        log = open(log_dir / f"{tag}{index}.log", "w")
        procs.append(subprocess.Popen([sys.executable, str(ROOT / "train.py"), *args], env=env, stdout=log,
                                      stderr=subprocess.STDOUT, text=True, cwd=ROOT))
    return procs


def test_two_workers_train_one_model_and_recover_after_a_worker_is_killed(tmp_path):
    run = tmp_path / "runs" / "mw"
    args = [*TINY, "--strategy", "multiworker", "--epochs", "3", "--output", str(run.parent), "--name", "mw"]
    chief, worker = _start_workers(args, tmp_path, "first")
    deadline = time.monotonic() + 240
    while callbacks.completed_epochs(run / "backup") < 1 and worker.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=30)
    assert worker.returncode == -signal.SIGKILL, "the worker ended before it could be killed"
    try:  # the chief notices the lost peer through its heartbeats and stops with one line
        chief.wait(timeout=120)
    except subprocess.TimeoutExpired:
        chief.kill()
        pytest.fail("the chief kept waiting for the killed worker")
    first_log = (tmp_path / "first0.log").read_text()
    assert chief.returncode == 1, first_log[-2000:]
    assert "error: a worker stopped or became unreachable" in first_log and f"--resume {run}" in first_log
    done = callbacks.completed_epochs(run / "backup")
    assert 1 <= done < 3

    # A cluster manager restarts every task; BackupAndRestore continues after the last finished epoch.
    procs = _start_workers(["--resume", str(run)], tmp_path, "again")
    for p in procs:
        p.wait(timeout=300)
    logs = [(tmp_path / f"again{i}.log").read_text() for i in range(2)]
    assert [p.returncode for p in procs] == [0, 0], logs[0][-1500:] + logs[1][-1500:]
    assert f"resuming after epoch {done} of 3" in logs[0] and "2 replica(s), task worker 0 (chief)" in logs[0]
    assert "worker done; the chief wrote the run" in logs[1]
    assert [int(r["epoch"]) for r in _history(run)] == [0, 1, 2]
    assert callbacks.completed_epochs(run / "backup") == 3
    assert json.loads((run / "metrics.json").read_text())["split"] == "test"
    # Only the chief wrote here: one event file per chief process (first and resumed), no worker copies.
    assert len(list((run / "tb" / "train").glob("events.*"))) == 2
    assert not [p for p in run.rglob("*") if "workertemp" in p.name or files.PARTIAL in p.name]
    acc = EventAccumulator(str(run / "tb" / "train"), size_guidance={"tensors": 0})
    acc.Reload()
    assert [e.step for e in acc.Tensors("epoch_loss")] == [0, 1, 2]  # one continuous step axis


def test_strategy_errors_are_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert train.main(["--strategy", "multiworker", "--output", str(tmp_path), *TINY]) == 2
    assert "needs the TF_CONFIG environment variable" in capsys.readouterr().err
    monkeypatch.setenv("TF_CONFIG", "{cluster: }")
    assert train.main(["--strategy", "multiworker", "--output", str(tmp_path), *TINY]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: TF_CONFIG is not valid JSON") and err.count("\n") == 1
    assert not list(tmp_path.iterdir())  # nothing written


def test_chief_is_the_chief_task_or_worker_zero(monkeypatch):
    cluster = {"worker": ["a:1", "b:1"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 1}}))
    assert distribute.task() == ("worker", 1)
    monkeypatch.setattr(distribute, "is_multiworker", lambda strategy: True)
    assert not distribute.is_chief()
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 0}}))
    assert distribute.is_chief()
    with_chief = {"chief": ["c:1"], **cluster}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": with_chief, "task": {"type": "worker", "index": 0}}))
    assert not distribute.is_chief()
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": with_chief, "task": {"type": "chief", "index": 0}}))
    assert distribute.is_chief()
