"""Edge TPU readiness: a static check against Coral's published model requirements, and the real
`edgetpu_compiler` when it is on PATH (it cannot be installed on every machine, so it is optional).

Requirements checked (https://coral.ai/docs/edgetpu/models-intro/#model-requirements):
tensors quantized to 8 bits, constant (static) shapes, at most 3 dimensions larger than 1, and
only supported operations (not grouped convolutions, which TFLite gained after the compiler's last release). The compiler maps ops in order and stops at the first unsupported one:
that op and everything after it run on the CPU, even ops the Edge TPU supports.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np

from deploy.convert import list_ops
from deploy.formats import TARGETS

# Coral's "supported operations" table (TFLite builtin names).
SUPPORTED_OPS = frozenset({
    "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "DEQUANTIZE", "EXPAND_DIMS",
    "FULLY_CONNECTED", "GATHER", "HARD_SWISH", "L2_NORMALIZATION", "LOGISTIC", "LSTM", "MAXIMUM", "MAX_POOL_2D",
    "MEAN", "MINIMUM", "MUL", "PACK", "PAD", "PRELU", "QUANTIZE", "REDUCE_MAX", "REDUCE_MIN", "RELU", "RELU6",
    "RELU_N1_TO_1", "RESHAPE", "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "RSQRT", "SLICE", "SOFTMAX",
    "SPACE_TO_DEPTH", "SPLIT", "SQUARED_DIFFERENCE", "SQUEEZE", "STRIDED_SLICE", "SUB", "SUM", "TANH",
    "TRANSPOSE", "TRANSPOSE_CONV",
})
_QUANTIZED = (np.int8, np.uint8, np.int32)  # int32 only for biases


def _is_grouped(op: dict) -> bool:
    """A CONV_2D whose filter (O, H, W, I) covers fewer input channels than its input has (groups > 1)."""
    data, kernel = op["inputs"][0], op["inputs"][1]
    return int(kernel["shape"][-1]) != int(data["shape"][-1])


def _problems(op: dict, activations: set) -> list[str]:
    """Why one op cannot run on the Edge TPU (empty when it can). Shape limits apply to activations,
    not to constant weight tensors (a conv kernel is 4-D)."""
    found = []
    if op["op"] not in SUPPORTED_OPS:
        found.append(f"{op['op']} is not an Edge TPU operation")
    if op["op"] == "CONV_2D" and _is_grouped(op):
        found.append("grouped CONV_2D (filter depth below the input's channels) is not an Edge TPU operation")
    for t in op["inputs"] + op["outputs"]:
        if t["dtype"] not in _QUANTIZED:
            found.append(f"tensor {t['name']!r} is {np.dtype(t['dtype']).name}, not 8-bit quantized")
        shape = [int(d) for d in t["shape"]]
        if t["index"] not in activations:
            continue
        if -1 in list(t.get("shape_signature", shape)):
            found.append(f"tensor {t['name']!r} has a dynamic shape")
        if sum(1 for d in shape if d > 1) > 3:
            found.append(f"tensor {t['name']!r} has more than 3 dimensions larger than 1: {shape}")
    return found


def check_static(model_bytes: bytes) -> dict:
    """Which ops the Edge TPU would run and which fall back to the CPU, with reasons.

    Returns a dict: `ops` (total), `mapped` (ops before the first unsupported one), `mapped_fraction`,
    `first_fallback` ("OP #i: reason" or None) and `cpu_ops` (one line per op that would run on the CPU).
    """
    ops = list_ops(model_bytes)
    activations = {t["index"] for op in ops for t in op["inputs"] + op["outputs"] if not t["constant"]}
    cpu_ops, first = [], None
    for op in ops:
        reasons = _problems(op, activations)
        if first is None and reasons:
            first = op["index"]
        if first is not None:
            why = "; ".join(reasons) if reasons else f"after the first unsupported op #{first}"
            cpu_ops.append(f"{op['op']} #{op['index']}: {why}")
    mapped = len(ops) if first is None else first
    return {"ops": len(ops), "mapped": mapped, "mapped_fraction": mapped / max(1, len(ops)),
            "first_fallback": cpu_ops[0] if cpu_ops else None, "cpu_ops": cpu_ops,
            "op_types": sorted({op["op"] for op in ops})}


def compile_model(tflite_path: Path, out_dir: Path) -> dict:
    """Run `edgetpu_compiler` when installed; keep its log and `_edgetpu.tflite`.

    Returns {"compiled": False, "reason": ...} when the compiler is not on PATH (it is never installed
    at run time).
    """
    exe = shutil.which("edgetpu_compiler")
    if exe is None:
        return {"compiled": False, "reason": "edgetpu_compiler is not on PATH (static check only)"}
    proc = subprocess.run([exe, "-s", "-o", str(out_dir), str(tflite_path)], capture_output=True, text=True)
    log_path = out_dir / f"{tflite_path.stem}_edgetpu.log"
    log_path.write_text(proc.stdout + proc.stderr)
    compiled = out_dir / (tflite_path.stem + TARGETS["edgetpu"].suffix)  # the compiler's own naming
    return {"compiled": proc.returncode == 0 and compiled.exists(), "log": str(log_path),
            "model": str(compiled) if compiled.exists() else None, "returncode": proc.returncode}
