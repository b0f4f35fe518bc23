"""Run INT8 models in TensorFlow Lite for Microcontrollers (the `tflite-micro` Python interpreter):
find the smallest tensor arena that works and compare outputs with LiteRT's reference kernels."""
from __future__ import annotations

import contextlib
import hashlib
import os

import numpy as np

from deploy.convert import LiteRTModel


def _tflm(model_bytes: bytes, arena_size: int):
    from tflite_micro.python.tflite_micro import runtime

    return runtime.Interpreter.from_bytes(model_bytes, arena_size=arena_size)


@contextlib.contextmanager
def _quiet_stderr():
    """Silence TFLM's C++ "Failed to resize buffer" lines while probing arena sizes."""
    saved = os.dup(2)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


MIN_ARENA = 1024  # TFLM's interpreter crashes (SIGSEGV) instead of failing when given a few hundred bytes


def fits(model_bytes: bytes, arena_size: int) -> bool:
    """True when TFLM can allocate every tensor of the model in `arena_size` bytes (never tried below MIN_ARENA)."""
    if arena_size < MIN_ARENA:
        return False
    try:
        with _quiet_stderr():
            _tflm(model_bytes, arena_size)
        return True
    except RuntimeError:
        return False


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
    bit-exact with TFLM; the default XNNPACK kernels round differently by a few steps).
    """
    from ai_edge_litert.interpreter import OpResolverType
    from tqdm.auto import tqdm

    from deploy.convert import strip as strip_model

    micro = strip_model(model_bytes, micro=True) if strip else model_bytes
    arena = smallest_arena(micro)
    fast = LiteRTModel(model_bytes)
    ref = LiteRTModel(model_bytes, op_resolver=OpResolverType.BUILTIN_REF)
    diff_ref = diff_fast = 0
    for i in tqdm(range(len(images)), desc="TFLite-Micro check", unit="image", leave=False,
                  disable=None if progress is None else not progress):
        xq = fast.quantize_input(images[i:i + 1])
        y = run(micro, xq, arena).astype(np.int32)
        diff_ref = max(diff_ref, int(np.abs(y - ref.invoke_raw(xq).astype(np.int32)).max()))
        diff_fast = max(diff_fast, int(np.abs(y - fast.invoke_raw(xq).astype(np.int32)).max()))
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
    }
