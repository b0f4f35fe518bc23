"""Distributed training through TensorFlow's own engine (`tf.distribute`): pick a strategy, shard the
input pipeline, and decide which process writes files.

Strategies (`train.py --strategy`):
- `auto`: `MirroredStrategy` over all GPUs when more than one is visible, else the default strategy.
- `default`: one device (the first GPU if any, else the CPU); TensorFlow places ops itself.
- `mirrored`: synchronous data parallelism over every local GPU (without GPUs: every logical CPU device).
- `multiworker`: `MultiWorkerMirroredStrategy` configured from the `TF_CONFIG` environment variable
  (https://www.tensorflow.org/guide/distributed_training#setting_up_the_tf_config_environment_variable).
  The chief (task `chief`, or `worker` 0 when there is no chief) writes logs, checkpoints, metrics
  and exports; the other workers write to a temporary folder that is deleted at the end.
- `tpu`: `TPUStrategy` on the TPU found by `TPUClusterResolver`.

`--batch-size` is always the global batch: each of the N replicas gets batch/N images per step, so
results match one device with the same batch. Learning rate: with a fixed global batch nothing
changes; if you grow the global batch with the number of replicas, scale `--lr` linearly with it
(Goyal et al. 2017) and consider a warm-up. BatchNorm statistics are per replica (each sees batch/N
images); keep batch/N at 4 or more.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import tensorflow as tf

from zoo.training.choices import STRATEGIES


class StrategyError(RuntimeError):
    """The requested strategy cannot run here; the message is one line saying why and what to do."""


def cluster_spec() -> dict:
    """The parsed `TF_CONFIG` (empty when unset); raises StrategyError when it is not valid JSON."""
    raw = os.environ.get("TF_CONFIG", "")
    if not raw.strip():
        return {}
    try:
        spec = json.loads(raw)
    except json.JSONDecodeError as e:
        raise StrategyError(f"TF_CONFIG is not valid JSON ({e.msg} at character {e.pos})") from None
    if not isinstance(spec, dict) or "cluster" not in spec or "task" not in spec:
        raise StrategyError('TF_CONFIG needs "cluster" and "task" keys, e.g. {"cluster": {"worker": '
                            '["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}')
    return spec


def task() -> tuple[str, int]:
    """This process's (task type, index) from TF_CONFIG; ("worker", 0) when there is no cluster."""
    spec = cluster_spec()
    if not spec:
        return "worker", 0
    t = spec["task"]
    return t.get("type", "worker"), int(t.get("index", 0))


def is_multiworker(strategy: tf.distribute.Strategy | None) -> bool:
    """True when `strategy` spans several processes."""
    cluster = cluster_spec().get("cluster", {})
    tasks = len(cluster.get("worker", [])) + len(cluster.get("chief", []))
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and tasks > 1


def is_chief(strategy: tf.distribute.Strategy | None = None) -> bool:
    """True for the process that writes files: always in one process; with several workers, task `chief`,
    or `worker` 0 when the cluster has no chief."""
    if not is_multiworker(strategy):
        return True
    spec = cluster_spec()
    kind, index = task()
    has_chief = bool(spec["cluster"].get("chief"))
    return kind == "chief" or (kind == "worker" and index == 0 and not has_chief)


def make_strategy(name: str = "auto") -> tf.distribute.Strategy:
    """The `tf.distribute` strategy for `name` (see the module docstring); StrategyError if it cannot run here."""
    if name not in STRATEGIES:
        raise StrategyError(f"unknown strategy {name!r}; choose from {', '.join(STRATEGIES)}")
    if name == "auto" and cluster_spec():
        name = "multiworker"
    if name == "multiworker":  # before anything else touches the runtime: it must configure collectives first
        if not cluster_spec():
            raise StrategyError("--strategy multiworker needs the TF_CONFIG environment variable describing the "
                                "cluster and this task (see README, 'Training on several GPUs or hosts')")
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        name = "mirrored" if len(gpus) > 1 else "default"
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":  # every local GPU; without GPUs every logical CPU device (useful for testing)
        devices = gpus or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy(devices=[d.name for d in devices])
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as e:
        raise StrategyError(f"--strategy tpu: no TPU found ({' '.join(str(e).split())[:160]})") from None
    return tf.distribute.TPUStrategy(resolver)


def shard_by_data(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """Shard by element across workers (our datasets read files through Python, so file sharding cannot apply):
    every worker builds the same pipeline and keeps its own share of each global batch."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def worker_dir(run_dir: Path, strategy: tf.distribute.Strategy | None = None) -> Path:
    """Where this process writes: `run_dir` on the chief, a fresh temporary folder on other workers."""
    if is_chief(strategy):
        return Path(run_dir)
    kind, index = task()
    return Path(tempfile.mkdtemp(prefix=f"edgeseg-{kind}{index}-"))


def wait_for_chief(path: Path, timeout_s: float = 600.0) -> None:
    """On a non-chief worker: wait until the chief has written `path` (its run folder's config)."""
    deadline = time.monotonic() + timeout_s
    while not Path(path).is_file():
        if time.monotonic() > deadline:
            raise StrategyError(f"{path}: the chief did not create it within {timeout_s:.0f} s; is the chief running?")
        time.sleep(0.5)


def is_peer_failure(err: Exception, strategy) -> bool:
    """True when `err` is a collective op aborted because another worker died or became unreachable."""
    if not is_multiworker(strategy) or not isinstance(err, tf.errors.OpError):
        return False
    lost = (tf.errors.UnavailableError, tf.errors.CancelledError, tf.errors.AbortedError, tf.errors.DeadlineExceededError)
    return isinstance(err, lost) or any(s in str(err) for s in ("Collective", "unhealthy", "heartbeat", "crashed"))


def describe(strategy: tf.distribute.Strategy) -> str:
    """One line: strategy, replicas and, for several workers, this task."""
    kind = strategy.__class__.__name__.lstrip("_").replace("DefaultDistributionStrategy", "the default strategy")
    kind = kind.replace("CollectiveAllReduceStrategy", "MultiWorkerMirroredStrategy")
    text = f"{kind} with {strategy.num_replicas_in_sync} replica(s)"
    if is_multiworker(strategy):
        kind, index = task()
        text += f", task {kind} {index}{' (chief)' if is_chief(strategy) else ''}"
    return text
