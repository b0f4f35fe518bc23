"""Run INT8 models in TensorFlow Lite for Microcontrollers (the `tflite-micro` Python interpreter):
find the smallest tensor arena that works and compare outputs with LiteRT's reference kernels."""
from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from deploy.convert import LiteRTModel


def _tflm(model_bytes: bytes, arena_size: int):
    from tflite_micro.python.tflite_micro import runtime

    return runtime.Interpreter.from_bytes(model_bytes, arena_size=arena_size)


MIN_ARENA = 1024  # below this TFLM is never asked: nothing of ours allocates in less


class _ArenaProbe:
    """Answers "does this model allocate in N bytes?" in a child process. TFLM's interpreter crashes (SIGSEGV)
    instead of failing for some too-small arenas (seen at 32-64 KB for a small DeepLabV3+), so the question is
    asked where a crash costs only the child: a crash means "no", and the next question starts a new child.
    One child serves the whole command; models travel as temporary files."""

    CHILD = ("import sys\n"
             "from tflite_micro.python.tflite_micro import runtime\n"
             "models = {}\n"
             "for line in iter(sys.stdin.readline, ''):\n"
             "    path, size = line.rsplit(' ', 1)\n"
             "    model = models.setdefault(path, open(path, 'rb').read())\n"
             "    try:\n"
             "        runtime.Interpreter.from_bytes(model, arena_size=int(size))\n"
             "        print(1, flush=True)\n"
             "    except RuntimeError:\n"
             "        print(0, flush=True)\n")

    def __init__(self):
        self.child, self.errors, self.folder, self.files = None, None, None, {}

    def _model_file(self, model_bytes: bytes) -> str:
        import atexit
        import tempfile

        if self.folder is None:
            self.folder = tempfile.mkdtemp(prefix="edgeseg-tflm-")
            atexit.register(self.close)
        key = hashlib.sha1(model_bytes).hexdigest()
        if key not in self.files:
            path = os.path.join(self.folder, key + ".tflite")
            with open(path, "wb") as f:
                f.write(model_bytes)
            self.files[key] = path
        return self.files[key]

    def _start(self) -> None:
        import subprocess
        import sys

        if self.errors:
            self.errors.close()
        self.errors = open(os.path.join(self.folder, "child.log"), "w+b")  # noqa: SIM115 - lives with the child
        self.child = subprocess.Popen([sys.executable, "-c", self.CHILD], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=self.errors, text=True)

    def fits(self, model_bytes: bytes, arena_size: int) -> bool:
        path = self._model_file(model_bytes)
        if self.child is None or self.child.poll() is not None:
            self._start()
        try:
            self.child.stdin.write(f"{path} {arena_size}\n")
            self.child.stdin.flush()
            answer = self.child.stdout.readline()
        except BrokenPipeError:
            answer = ""
        if answer:
            return answer.strip() == "1"
        code = self.child.wait()
        self.child = None
        if code > 0:  # not a crash on this arena: the child could not run at all
            self.errors.seek(0)
            lines = self.errors.read().decode(errors="replace").strip().splitlines() or ["no message"]
            raise RuntimeError(f"the TFLite-Micro arena probe failed: {lines[-1]}")
        return False  # killed by a signal: TFLM crashed on a too-small arena

    def close(self) -> None:
        import shutil

        if self.child is not None and self.child.poll() is None:
            self.child.stdin.close()
            self.child.wait()
        self.child = None
        if self.errors:
            self.errors.close()
            self.errors = None
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder, self.files = None, {}


_PROBE = _ArenaProbe()


def fits(model_bytes: bytes, arena_size: int) -> bool:
    """True when TFLM can allocate every tensor of the model in `arena_size` bytes (asked in a child process
    that may crash; never asked below MIN_ARENA)."""
    return arena_size >= MIN_ARENA and _PROBE.fits(model_bytes, arena_size)


def smallest_arena(model_bytes: bytes, *, granularity: int = 1024, limit: int = 256 * 2**20) -> int:
    """Smallest arena (bytes, rounded up to `granularity`) in which the model allocates, by bisection.

    Raises RuntimeError when even `limit` bytes are not enough (or the model has ops TFLM lacks).
    """
    hi = max(granularity, 16 * granularity)
    while not fits(model_bytes, hi):
        if hi >= limit:
            raise RuntimeError(f"TFLM cannot allocate this model even with a {limit // 2**20} MiB arena "
                               "(an op TFLM does not support, or activations too large)")
        hi = min(limit, hi * 2)
    lo = 0  # lo never fits, hi always fits
    while hi - lo > granularity:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if fits(model_bytes, mid) else (mid, hi)
    return -(-hi // granularity) * granularity


_RUNS: dict = {}  # the last few run() results: host TFLM takes seconds per whole image, and the
_RUNS_KEPT = 4  # TFLM check and the tiling check both run the first scored image


def run(model_bytes: bytes, x_quantized: np.ndarray, arena_size: int) -> np.ndarray:
    """One inference in TFLM on an already quantized (1, H, W, C) int8 input; returns the raw int8 output
    (a copy of a recent identical call's, if any: TFLM is deterministic)."""
    key = (hashlib.sha1(model_bytes).hexdigest(), arena_size, x_quantized.dtype.str, x_quantized.shape,
           hashlib.sha1(np.ascontiguousarray(x_quantized).tobytes()).hexdigest())
    if key not in _RUNS:
        interp = _tflm(model_bytes, arena_size)
        interp.set_input(x_quantized, 0)
        interp.invoke()
        while len(_RUNS) >= _RUNS_KEPT:
            _RUNS.pop(next(iter(_RUNS)))
        _RUNS[key] = np.array(interp.get_output(0))
    return _RUNS[key].copy()


def check(model_bytes: bytes, images: np.ndarray, *, ram_budget: int | None = None,
          flash_budget: int | None = None, strip: bool = True, progress=None) -> dict:
    """Arena, flash and agreement with LiteRT for an int8 model on float images (N, H, W, C).

    With `strip` (default) TFLM runs the stripped model the C array holds (`deploy.convert.strip(micro=True)`),
    and arena and flash are measured on it; LiteRT runs `model_bytes` as given.
    Returns a dict: `arena_bytes`, `flash_bytes`, `unstripped_bytes`, `fits_ram`, `fits_flash` (None without a
    budget), `max_diff_vs_litert_ref` and `max_diff_vs_litert` in quantization steps (reference kernels are
    bit-exact with TFLM; the default XNNPACK kernels round differently by a few steps) over `images` images.
    """
    from ai_edge_litert.interpreter import OpResolverType
    from tqdm.auto import tqdm

    from deploy.convert import strip as strip_model

    micro = strip_model(model_bytes, micro=True) if strip else model_bytes
    arena = smallest_arena(micro)
    fast = LiteRTModel(model_bytes)
    ref = LiteRTModel(model_bytes, op_resolver=OpResolverType.BUILTIN_REF)

    def litert(xq):
        return ref.invoke_raw(xq).astype(np.int32), fast.invoke_raw(xq).astype(np.int32)

    diff_ref = diff_fast = 0
    with ThreadPoolExecutor(1) as pool:  # LiteRT releases the interpreter lock, TFLM does not: LiteRT in a thread
        for i in tqdm(range(len(images)), desc="TFLite-Micro check", unit="image", leave=False,
                      disable=None if progress is None else not progress):
            xq = fast.quantize_input(images[i:i + 1])
            expected = pool.submit(litert, xq)
            y = run(micro, xq, arena).astype(np.int32)
            y_ref, y_fast = expected.result()
            diff_ref = max(diff_ref, int(np.abs(y - y_ref).max()))
            diff_fast = max(diff_fast, int(np.abs(y - y_fast).max()))
    return {
        "arena_bytes": arena,
        "flash_bytes": len(micro),
        "unstripped_bytes": len(model_bytes),
        "ram_budget": ram_budget,
        "flash_budget": flash_budget,
        "fits_ram": None if ram_budget is None else arena <= ram_budget,
        "fits_flash": None if flash_budget is None else len(micro) <= flash_budget,
        "max_diff_vs_litert_ref": diff_ref,
        "max_diff_vs_litert": diff_fast,
        "images": len(images),
    }
