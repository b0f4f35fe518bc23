"""Edge TPU readiness: a static check modelled on one Edge TPU compiler release, and the real
`edgetpu_compiler` when it is on PATH (it cannot be installed on every machine, so it is optional).

Requirements checked (https://coral.ai/docs/edgetpu/models-intro/#model-requirements and the "supported
operations" table there): tensors quantized to 8 bits, constant (static) shapes, at most 3 dimensions larger
than 1, only supported operations, and, per operator, the op version and builtin options the compiler is
known to map (`_op_verdict`, each rule with its source). The compiler maps ops in order and stops at the first
unsupported one: that op and everything after it run on the CPU, even ops the Edge TPU supports.

Each op is "mapped" (known to map), "uncertain" (the modelled compiler may or may not map it: Coral gives no
rule, or the reports disagree) or a CPU fallback. An op after an uncertain one is uncertain too (it is mapped
only if that one is). The check is static: confirm with `edgetpu_compiler`, which `compile_model` runs.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np

from deploy.convert import list_ops
from deploy.formats import TARGETS

# The release the rules model: 16.0 (16.0.384591198, 2021) is the last published edgetpu_compiler; the reports
# cited below are against 14.1 and 15.0, and none shows a later release mapping what they reject.
COMPILER_MODEL = "edgetpu_compiler 16.0"

# Coral's "supported operations" table (TFLite builtin names).
SUPPORTED_OPS = frozenset({
    "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "DEQUANTIZE", "EXPAND_DIMS",
    "FULLY_CONNECTED", "GATHER", "HARD_SWISH", "L2_NORMALIZATION", "LOGISTIC", "LSTM", "MAXIMUM", "MAX_POOL_2D",
    "MEAN", "MINIMUM", "MUL", "PACK", "PAD", "PRELU", "QUANTIZE", "REDUCE_MAX", "REDUCE_MIN", "RELU", "RELU6",
    "RELU_N1_TO_1", "RESHAPE", "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "RSQRT", "SLICE", "SOFTMAX",
    "SPACE_TO_DEPTH", "SPLIT", "SQUARED_DIFFERENCE", "SQUEEZE", "STRIDED_SLICE", "SUB", "SUM", "TANH",
    "TRANSPOSE", "TRANSPOSE_CONV",
})

# Op versions known to map: the versions TF 2 full-INT8 exports write for these ops (int8; per-channel conv
# weights are CONV_2D / DEPTHWISE_CONV_2D v3), which compiler 15 / 16 logs list as "Mapped to Edge TPU" (e.g.
# https://github.com/google-coral/edgetpu/issues/512, 16.0). TFLite raises an op's version when it gains a
# feature (tensorflow/lite/tools/versioning/op_version.cc); a version above these is a feature the compiler's
# TFLite snapshot may not know, so the op is uncertain. An op missing here is uncertain above version 1.
KNOWN_VERSIONS = {
    "ADD": 2, "AVERAGE_POOL_2D": 2, "CONCATENATION": 2, "CONV_2D": 3, "DEPTHWISE_CONV_2D": 3, "DEQUANTIZE": 2,
    "FULLY_CONNECTED": 4, "LOGISTIC": 2, "MAXIMUM": 2, "MAX_POOL_2D": 2, "MEAN": 2, "MINIMUM": 2, "MUL": 2,
    "PAD": 2, "QUANTIZE": 2, "RELU": 2, "RELU6": 2, "RESHAPE": 1, "RESIZE_BILINEAR": 2,
    "RESIZE_NEAREST_NEIGHBOR": 2, "SLICE": 2, "SOFTMAX": 2, "STRIDED_SLICE": 2, "SUB": 2, "TANH": 2,
    "TRANSPOSE_CONV": 2,
}
_QUANTIZED = (np.int8, np.uint8, np.int32)  # int32 only for biases
_RESIZE_OPS = ("RESIZE_NEAREST_NEIGHBOR", "RESIZE_BILINEAR")


def _is_grouped(op: dict) -> bool:
    """A CONV_2D whose filter (O, H, W, I) covers fewer input channels than its input has (groups > 1)."""
    data, kernel = op["inputs"][0], op["inputs"][1]
    return int(kernel["shape"][-1]) != int(data["shape"][-1])


def _integer_scale(op: dict) -> bool:
    """Output height and width are whole multiples of the input's (a resize that only repeats pixels)."""
    (hi, wi), (ho, wo) = ([int(d) for d in t["shape"][1:3]] for t in (op["inputs"][0], op["outputs"][0]))
    return hi > 0 and wi > 0 and ho % hi == 0 and wo % wi == 0


def _problems(op: dict, activations: set) -> list[str]:
    """Why one op cannot run on the Edge TPU (empty when it can). Shape limits apply to activations,
    not to constant weight tensors (a conv kernel is 4-D)."""
    found = []
    if op["op"] not in SUPPORTED_OPS:
        found.append(f"{op['op']} is not an Edge TPU operation")
    if op["op"] == "CONV_2D" and _is_grouped(op):
        # Grouped CONV_2D is a later TFLite feature than the compiler's last release; not in Coral's table.
        found.append("grouped CONV_2D (filter depth below the input's channels) is not an Edge TPU operation")
    if op["op"] in _RESIZE_OPS:
        opts = op.get("options", {})
        if opts.get("halfPixelCenters"):
            # TF 2 converters write Keras' UpSampling2D / tf.image.resize as half_pixel_centers=True, op version 3;
            # compilers 14.1 and 15.0 answer "Operation version not supported" (nearest:
            # https://github.com/google-coral/edgetpu/issues/114, /152, /206, /420,
            # https://github.com/tensorflow/tensorflow/issues/42024; bilinear: /45, /187, /396), as does the
            # compiler of 2022 (https://github.com/google-coral/edgetpu/issues/597).
            found.append(f"{op['op']} with half_pixel_centers=True (op version {op.get('version')}): "
                         "\"Operation version not supported\"")
        elif op.get("version", 1) > KNOWN_VERSIONS[op["op"]]:
            # align_corners=True also writes RESIZE_NEAREST_NEIGHBOR as version 3 (op_version.cc), rejected as above.
            found.append(f"{op['op']} op version {op['version']}: \"Operation version not supported\"")
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


def _doubts(op: dict) -> list[str]:
    """Why the modelled compiler may not map an op that breaks no known rule (empty when it is known to map)."""
    found, name = [], op["op"]
    version, opts = op.get("version", 1), op.get("options", {})
    if name not in _RESIZE_OPS and version > KNOWN_VERSIONS.get(name, 1):
        found.append(f"op version {version} is newer than the {name} versions {COMPILER_MODEL} is known to map "
                     f"(<= {KNOWN_VERSIONS.get(name, 1)})")
    if name == "HARD_SWISH":
        # In Coral's table only for recent compilers; 15.0 did not map it, and models with it were reported mapped
        # but wrong (https://github.com/google-coral/edgetpu/issues/272).
        found.append("HARD_SWISH is listed for recent compilers only and was reported to give wrong outputs "
                     "(google-coral/edgetpu#272)")
    if name in _RESIZE_OPS:
        # Coral: "Depending on input/output size, this operation may not be mapped to the Edge TPU to avoid loss
        # in precision" (models-intro, supported operations); no sizes are published. A nearest resize by whole
        # factors only repeats pixels, so no precision is lost; bilinear was refused at 512x512 and mapped at
        # 128x128 (https://github.com/google-coral/edgetpu/issues/31, /63).
        if name == "RESIZE_BILINEAR":
            found.append("RESIZE_BILINEAR is mapped or not by input/output size (limits not published)")
        elif not _integer_scale(op):
            found.append("RESIZE_NEAREST_NEIGHBOR by a non-integer factor is mapped or not by size (limits not published)")
        if opts.get("alignCorners"):
            found.append(f"{name} with align_corners=True: no report either way")
    return found


def check_static(model_bytes: bytes) -> dict:
    """Which ops the modelled Edge TPU compiler (`COMPILER_MODEL`) would run on the TPU, which it may or may not,
    and which fall back to the CPU, with reasons.

    Returns a dict: `ops` (total), `mapped` (ops known to map: those before the first uncertain or unsupported
    one), `mapped_fraction`, `uncertain` and `cpu_ops` (one line "OP #i: reason" per op), `first_fallback` (the
    first op not known to map, uncertain or CPU, or None), `compiler_model`, `note` (what the check is),
    `op_types` and `op_versions` ({op: [versions]}).
    """
    ops = list_ops(model_bytes)
    activations = {t["index"] for op in ops for t in op["inputs"] + op["outputs"] if not t["constant"]}
    uncertain, cpu_ops, first_doubt, first_cpu = [], [], None, None
    for op in ops:
        label = f"{op['op']} #{op['index']}"
        reasons = _problems(op, activations)
        if first_cpu is None and reasons:
            first_cpu = op["index"]
        if first_cpu is not None:
            cpu_ops.append(f"{label}: {'; '.join(reasons) or f'after the first unsupported op #{first_cpu}'}")
            continue
        doubts = _doubts(op)
        if first_doubt is None and doubts:
            first_doubt = op["index"]
        if first_doubt is not None:
            uncertain.append(f"{label}: uncertain: {'; '.join(doubts) or f'after the uncertain op #{first_doubt}'}")
    not_known = uncertain + cpu_ops
    mapped = len(ops) - len(not_known)
    versions = {}
    for op in ops:
        versions.setdefault(op["op"], set()).add(op.get("version", 1))
    return {"ops": len(ops), "mapped": mapped, "mapped_fraction": mapped / max(1, len(ops)),
            "uncertain": uncertain, "cpu_ops": cpu_ops, "first_fallback": not_known[0] if not_known else None,
            "compiler_model": COMPILER_MODEL,
            "note": f"static check, modelled on {COMPILER_MODEL}; confirm with edgetpu_compiler",
            "op_types": sorted(versions), "op_versions": {k: sorted(v) for k, v in sorted(versions.items())}}


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
