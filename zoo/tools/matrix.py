"""The encoder x decoder pairs: their size, and which pass QAT, full INT8 and the Edge TPU check.

Every catalogued encoder under every decoder is a registry entry of kind "pair", `<decoder>_<encoder>`.
`python -m zoo.tools.matrix --check` builds every pair in its tiny test configuration (the entry's
`small` arguments: the same layer types, fewer channels and blocks) at 64x64 and records, per pair,
whether tfmot's `quantize_model` accepts it and the QAT model runs (`qat`), whether full-INT8
post-training conversion (int8 input and output) runs in LiteRT with finite output (`int8`), and
`deploy.edgetpu.check_static` on that INT8 file (`edgetpu`: ops known to map to the TPU before the first op that is not (uncertain or CPU)).
The results go to `benchmarks/results/matrix_status.json` (generated, never edited by hand), which the
table (`python -m zoo.tools.matrix`) shows beside each pair's size. `--encoder` / `--decoder` restrict a
check and merge into the file. Each pair is checked in its own Python process: a native crash in one pair
is recorded as its result.
"""
from __future__ import annotations

import argparse
import datetime
import json
from pathlib import Path

from zoo import quiet
from zoo.models import decoders
from zoo.models.encoders import catalog
from zoo.models.registry import get_model_entry
from zoo.models.segmentation import pair_name

STATUS_FILE = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "matrix_status.json"
CHECK_SIZE = 64


def pairs(encoders=None, decoder_names=None) -> list[str]:
    """Names of the pair entries of the given encoders and decoders (default: all), encoder by encoder."""
    encoders = encoders or catalog.list_encoders()
    decoder_names = decoder_names or decoders.list_decoders()
    return [pair_name(e, d) for e in encoders for d in decoder_names]


def covering_pairs(encoders=None, decoder_names=None) -> list[str]:
    """A subset with every encoder once and every decoder at least once (encoder i with decoder i mod n)."""
    encoders = encoders or catalog.list_encoders()
    decoder_names = decoder_names or decoders.list_decoders()
    n = max(len(encoders), len(decoder_names))
    return [pair_name(encoders[i % len(encoders)], decoder_names[i % len(decoder_names)]) for i in range(n)]


def check_order(names) -> list[str]:
    """`names` with the covering subset first, so an interrupted check has covered every encoder and decoder."""
    first = [n for n in covering_pairs() if n in names]
    return first + [n for n in names if n not in first]


def build_small(name: str, size: int = CHECK_SIZE, **kw):
    """A model in its tiny test configuration (its entry's `small` arguments) at size x size x 3."""
    return get_model_entry(name).build_small(input_shape=(size, size, 3), **kw)


def _error(e: Exception) -> str:
    return f"{e.__class__.__name__}: {' '.join(str(e).split())[:200]}"


def check_pair(name: str, size: int = CHECK_SIZE) -> dict:
    """QAT, full INT8 and Edge TPU readiness of one model in its tiny configuration, each True or an error line."""
    import numpy as np

    from deploy import convert, edgetpu
    from zoo.models.quantization import quantize_model

    entry = get_model_entry(name)
    model = build_small(name, size)
    x = np.random.default_rng(0).random((2, size, size, 3), dtype=np.float32)
    cal = [x[:1], x[1:]]
    result = {"model": name, "encoder": entry.encoder, "decoder": entry.decoder,
              "params_small": int(model.count_params())}

    try:
        qat = quantize_model(model)
        if not np.isfinite(qat(x[:1], training=False).numpy()).all():
            raise ValueError("QAT model output is not finite")
        result["qat"] = True
    except Exception as e:  # noqa: BLE001 - any failure is the result being recorded
        result["qat"] = _error(e)
    try:
        blob = convert.to_tflite(model, "int8", cal)
        lite = convert.LiteRTModel(blob)
        y = lite.predict(x)
        if not (lite.input["dtype"] == np.int8 and y.shape == (2, size, size, 1) and np.isfinite(y).all()):
            raise ValueError(f"int8 file: input {lite.input['dtype']}, output {y.shape}, finite {np.isfinite(y).all()}")
        result["int8"] = True
        static = edgetpu.check_static(blob)
        result["edgetpu"] = {"ops": static["ops"], "mapped": static["mapped"], "first_fallback": static["first_fallback"]}
    except Exception as e:  # noqa: BLE001
        result["int8"] = result["edgetpu"] = _error(e)
    return result


def load_status(path: Path = STATUS_FILE) -> dict:
    """The recorded check results ({"pairs": {name: result}, ...}); empty when never checked."""
    return json.loads(path.read_text()) if path.is_file() else {"pairs": {}}


def check_pair_in_subprocess(name: str, timeout: float = 1800) -> dict:
    """`check_pair` in a fresh Python process, so a native crash (converter or XNNPACK abort) or a leak in
    one pair cannot stop or skew the others; a crash or timeout is recorded as that pair's result."""
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "zoo.tools.matrix", "--check-one", name]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              cwd=Path(__file__).resolve().parents[2])
        lines = done.stdout.strip().splitlines()
        if done.returncode == 0 and lines:
            return json.loads(lines[-1])
        last = [line.strip() for line in (done.stderr or "").splitlines() if line.strip()][-1:] or ["no output"]
        failure = f"check process exited with code {done.returncode}: {last[0][:200]}"  # a traceback's last line
    except subprocess.TimeoutExpired:
        failure = f"check process still running after {timeout:.0f} s"
    return {"model": name, "qat": failure, "int8": failure, "edgetpu": failure}


def run_checks(names, path: Path = STATUS_FILE, log=print, isolate: bool = True) -> dict:
    """Check each named pair (each in its own process unless `isolate=False`) and merge the results into the
    status file (written after every pair)."""
    import tensorflow as tf
    import tensorflow_model_optimization as tfmot
    import tf_keras as keras

    from zoo.files import atomic_write_text

    status = load_status(path)
    status.update({"size": CHECK_SIZE, "configuration": "tiny (the registry entries' 'small' arguments)",
                   "tensorflow": tf.__version__, "tfmot": tfmot.__version__})
    for name in check_order(names):
        result = check_pair_in_subprocess(name) if isolate else check_pair(name)
        result["checked"] = datetime.date.today().isoformat()
        status["pairs"][name] = result
        atomic_write_text(path, json.dumps(status, indent=1, sort_keys=True) + "\n")
        log(f"{name:36s} {marks(result)}")
        keras.backend.clear_session()
    return status


def marks(result: dict | None) -> str:
    """`QAT INT8 EdgeTPU` columns of a check result: yes / no / `n/m` ops mapped / ? (never checked)."""
    if result is None:
        return f"{'?':>5s}{'?':>6s}{'?':>9s}"
    yes = lambda v: "yes" if v is True else "no"  # noqa: E731
    tpu = result.get("edgetpu")
    tpu = ("yes" if tpu["mapped"] == tpu["ops"] else f"{tpu['mapped']}/{tpu['ops']}") if isinstance(tpu, dict) else "no"
    return f"{yes(result.get('qat')):>5s}{yes(result.get('int8')):>6s}{tpu:>9s}"


def complexity(name: str, input_shape) -> dict:
    """Parameters, FLOPs and MACs of a model at full size (its builder's defaults) for one input."""
    import tf_keras as keras

    from zoo.models.complexity import count_flops, count_macs

    model = get_model_entry(name).build(input_shape=input_shape)
    out = {"params": int(model.count_params()), "flops": count_flops(model), "macs": count_macs(model)}
    keras.backend.clear_session()
    return out


def matrix_table(input_shape=(256, 256, 3), encoders=None, decoder_names=None, status: dict | None = None) -> str:
    """One row per pair: parameters, FLOPs, MACs at `input_shape`, and the recorded QAT / INT8 / Edge TPU marks."""
    status = load_status() if status is None else status
    rows = [f"{'model (<decoder>_<encoder>)':44s}{'params':>10s}{'FLOPs':>10s}{'MACs':>10s}"
            f"{'QAT':>5s}{'INT8':>6s}{'EdgeTPU':>9s}"]
    for name in pairs(encoders, decoder_names):
        c = complexity(name, input_shape)
        rows.append(f"{name:44s}{c['params'] / 1e6:>9.3f}M{c['flops'] / 1e9:>9.2f}B{c['macs'] / 1e9:>9.3f}G"
                    f"{marks(status['pairs'].get(name))}")
    size = "x".join(map(str, input_shape))
    checked = status.get("size")
    return "\n".join(rows) + (
        f"\nat {size}; params incl. BatchNorm statistics; FLOPs count multiplications and additions separately, MACs "
        f"conv/dense multiply-accumulates. QAT / INT8 / EdgeTPU: recorded by `python -m zoo.tools.matrix --check` "
        + (f"at {checked}x{checked} in the tiny test configuration" if checked else "(never run: ?)")
        + "; EdgeTPU n/m = ops known to map to the TPU before the first op that is not (uncertain or CPU) (static check).")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="run the QAT / INT8 / Edge TPU checks, update the status file")
    p.add_argument("--encoder", action="append", choices=catalog.list_encoders(), help="only this encoder (repeatable)")
    p.add_argument("--decoder", action="append", choices=decoders.list_decoders(), help="only this decoder (repeatable)")
    p.add_argument("--input-size", type=int, default=256, help="square input size of the table (without --check)")
    p.add_argument("--check-one", metavar="MODEL",
                   help="check one model and print its result as JSON (what --check runs in a subprocess per pair)")
    quiet.add_verbose_flag(p)
    a = p.parse_args(argv)
    if a.check_one:
        print(json.dumps(check_pair(a.check_one)))
    elif a.check:
        run_checks(pairs(a.encoder, a.decoder))
    else:
        print(matrix_table((a.input_size, a.input_size, 3), a.encoder, a.decoder))
    return 0


if __name__ == "__main__":
    raise SystemExit(quiet.entry_point(main))
