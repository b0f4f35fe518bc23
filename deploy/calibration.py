"""Post-training INT8 calibration on several cores, with the converter's own calibrator.

TensorFlow's converter calibrates by running the float model on every representative image in one
single-threaded logging interpreter that also holds Python's interpreter lock: about 1 s per 256x256 image
for Half MultiResUNet, during which no other Python thread runs. Its statistics are each tensor's running
min and max (NaNs skipped), so they can be gathered on disjoint shards of the images and merged exactly (min
of mins, max of maxes). `parallel_calibration()` makes the converter do that: each shard runs in a child
process with LiteRT's build of the same calibrator (it imports without TensorFlow: about 130 MB for 28 images
of 256x256), at nice 10 so the deploy process's own work comes first, the parent merges the shards, and the
converter quantizes as usual. LiteRT's build rounds some float results
differently from TensorFlow's (min/max within about 1e-6 relative), so a file can differ from the in-process
converter's in the last bits of some scales and of the int32 biases derived from them; ops, weights and zero
points are the same (tested). Any number of workers gives the same file.
"""
from __future__ import annotations

import atexit
import contextlib
import functools
import os
import subprocess
import sys
import tempfile
import threading

import numpy as np

# One shard: calibrate the model on the images of an .npy file and write the model with min/max statistics.
_WORKER = """
import os
import sys
import numpy as np
if hasattr(os, "nice"):
    os.nice(10)  # the deploy process comes first: a worker takes the cores it leaves idle
from ai_edge_litert import _pywrap_tensorflow_lite_calibration_wrapper as wrapper
model_path, images_path, out_path = sys.argv[1:4]
images = np.load(images_path)
with open(model_path, "rb") as f:
    model = f.read()  # the calibrator reads these bytes in place: they must outlive it
calibrator = wrapper.CalibrationWrapper(model, [], [])
calibrator.Prepare([list(images.shape[1:])])
for image in images:
    calibrator.FeedTensor([image])
with open(out_path, "wb") as f:
    f.write(calibrator.Calibrate())
"""


class CalibrationError(RuntimeError):
    """A calibration worker failed; the message is its last line of output."""


def calibrate(model_bytes: bytes, samples, workers: int = 2) -> bytes:
    """`model_bytes` (a float TFLite model) with each tensor's min/max over `samples` (single-input batches, all
    of one shape) written as the converter's calibrator writes them, computed in `workers` child processes."""
    samples = [np.asarray(s, np.float32) for s in samples]
    shards = [s for s in np.array_split(np.arange(len(samples)), max(1, min(workers, len(samples)))) if len(s)]
    with tempfile.TemporaryDirectory(prefix="edgeseg-calibration-") as folder:
        model_path = os.path.join(folder, "model.tflite")
        with open(model_path, "wb") as f:
            f.write(model_bytes)
        jobs = []
        try:
            for k, shard in enumerate(shards):
                images, out = os.path.join(folder, f"images{k}.npy"), os.path.join(folder, f"calibrated{k}.tflite")
                np.save(images, np.stack([samples[i] for i in shard]))
                jobs.append((_start_worker(model_path, images, out), out))
            results = []
            for proc, out in jobs:
                _, err = proc.communicate()
                if proc.returncode != 0:
                    code = proc.returncode
                    lines = err.decode(errors="replace").strip().splitlines() or [
                        f"killed by signal {-code}" if code < 0 else f"exit code {code}"]
                    raise CalibrationError(f"INT8 calibration worker failed: {lines[-1]}")
                with open(out, "rb") as f:
                    results.append(f.read())
        finally:
            for proc, _ in jobs:
                _stop_worker(proc)
    return results[0] if len(results) == 1 else merge(results)


_RUNNING: set = set()  # workers not yet finished: stopped when this process exits first


def _start_worker(model_path, images_path, out_path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", _WORKER, model_path, images_path, out_path],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _RUNNING.add(proc)
    return proc


def _stop_worker(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    _RUNNING.discard(proc)


@atexit.register
def _stop_all() -> None:
    for proc in list(_RUNNING):
        _stop_worker(proc)


def merge(calibrated: list[bytes]) -> bytes:
    """One model whose every min/max statistic spans those of `calibrated` (the same model calibrated on
    disjoint image sets): what one calibration over all the images gives."""
    from ai_edge_litert.tools import flatbuffer_utils as fb

    models = [fb.read_model_from_bytearray(bytearray(b)) for b in calibrated]
    first = models[0]
    for g, subgraph in enumerate(first.subgraphs):
        for t, tensor in enumerate(subgraph.tensors):
            q = tensor.quantization
            if q is None or q.min is None or not len(q.min):
                continue
            others = [m.subgraphs[g].tensors[t].quantization for m in models[1:]]
            q.min = np.minimum.reduce([np.asarray(q.min)] + [np.asarray(o.min) for o in others]).tolist()
            q.max = np.maximum.reduce([np.asarray(q.max)] + [np.asarray(o.max) for o in others]).tolist()
    return bytes(fb.convert_object_to_bytearray(first))


_local = threading.local()  # workers for conversions in this thread (None: the converter's own calibration)


@contextlib.contextmanager
def parallel_calibration(workers: int = 2):
    """Within this block, conversions in this thread calibrate with `calibrate(..., workers)` instead of in
    the converter's process; a conversion in another thread is not affected. Calibrating in workers also leaves
    the interpreter lock free, so the caller's other threads run meanwhile."""
    _patch_converter()
    before = getattr(_local, "workers", None)
    _local.workers = workers
    try:
        yield
    finally:
        _local.workers = before


@functools.cache
def _patch_converter() -> None:
    """Route TensorFlow's `Calibrator.calibrate` through `calibrate` when `parallel_calibration` asks for it."""
    from tensorflow.lite.python.optimize import calibrator

    original = calibrator.Calibrator.calibrate

    @functools.wraps(original)
    def calibrate_maybe_in_workers(self, dataset_gen):
        workers = getattr(_local, "workers", None)
        if workers is None:
            return original(self, dataset_gen)
        samples = list(dataset_gen())
        if len(samples) < 2 or any(not isinstance(s, list) or len(s) != 1 for s in samples):
            return original(self, lambda: iter(samples))  # one image, or signatures / several inputs
        return calibrate(self._model_content, [s[0] for s in samples], workers)

    calibrator.Calibrator.calibrate = calibrate_maybe_in_workers
