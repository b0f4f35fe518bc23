"""The deployment vocabulary: one table of quantization modes and one of export targets.

Each row's `name` is the only name of that mode or target: the `--quantize` / `--targets` value, the
`deploy.convert.to_tflite` mode, the part of the file name (`<model>_<H>x<W>` + `suffix`) and of the
report key (`tflite_<mode>`). `int8`: a mode gives a full-integer model (int8 input and output); a
target needs one (it checks or compiles the INT8 files only).

    python -m deploy.formats          # the two tables in Markdown
"""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Format:
    """One row: a quantization mode or an export target."""

    name: str
    suffix: str  # what its files end with, after `<model>_<H>x<W>`
    description: str
    int8: bool = False
    on_request: bool = True  # False: always produced, so not a command-line choice (fp32)


MODES = {f.name: f for f in (
    Format("fp32", "_fp32.tflite", "float32 weights and activations (always written)", on_request=False),
    Format("float16", "_float16.tflite", "float16 weights, float32 computation"),
    Format("dynamic", "_dynamic.tflite", "int8 weights, float activations (dynamic range)"),
    Format("int8", "_int8.tflite", "full integer, activation ranges calibrated on training images; int8 input "
           "and output", int8=True),
    Format("qat", "_qat.tflite", "quantization-aware fine-tuning (fake quantization), then full integer; int8 input "
           "and output", int8=True),
)}

TARGETS = {f.name: f for f in (
    Format("tflite", ".tflite", "LiteRT flatbuffer at batch 1 with static shapes, one per mode, with a .json sidecar"),
    Format("onnx", ".onnx", "ONNX of the float model (tf2onnx), checked against Keras with onnxruntime"),
    Format("tflm", "model_data.cc", "TFLite-Micro: the INT8 model as a C array; tensor arena and flash checked "
           "against --ram-budget / --flash-budget", int8=True),
    Format("edgetpu", "_edgetpu.tflite", "Coral Edge TPU: op mapping checked; edgetpu_compiler run when installed",
           int8=True),
)}

QUANTIZE_CHOICES = tuple(name for name, f in MODES.items() if f.on_request)  # float16, dynamic, int8, qat
TARGET_CHOICES = tuple(TARGETS)
INT8_MODES = tuple(name for name, f in MODES.items() if f.int8)  # int8, qat


def file_name(stem: str, mode: str) -> str:
    """The TFLite file of `mode`: `<stem>` + its suffix, e.g. `unet_256x256_float16.tflite`."""
    return stem + MODES[mode].suffix


def variant_key(mode: str) -> str:
    """The TFLite variant's key in the report's "variants" (e.g. `tflite_float16`)."""
    if mode not in MODES:
        raise ValueError(f"unknown quantization mode {mode!r}; choose from {', '.join(MODES)}")
    return f"tflite_{mode}"


def help_text(table: dict, choices) -> str:
    """`name` (description), ... for a command-line help line."""
    return "; ".join(f"{name} ({table[name].description})" for name in choices)


def markdown() -> str:
    """Both tables in Markdown."""
    lines = []
    for title, table, int8 in (("Quantization modes (--quantize; fp32 is always written)", MODES, "INT8"),
                               ("Targets (--targets)", TARGETS, "INT8 models only")):
        lines += [f"{title}:", "", f"| name | file suffix | {int8} | description |", "|---|---|---|---|"]
        lines += [f"| `{f.name}` | `{f.suffix}` | {'yes' if f.int8 else 'no'} | {f.description} |"
                  for f in table.values()]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown())
