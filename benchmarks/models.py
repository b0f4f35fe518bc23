"""Every zoo model: parameters and FLOPs at its paper's input size beside the paper's figures, float and INT8
TFLite latency at batch 1 in LiteRT (median), achieved GFLOP/s as a fraction of this CPU's dense-matmul peak
measured in the same run, file sizes, and the TFLite-Micro arena of small INT8 files.

    python benchmarks/models.py                                    # all models, paper size x --scale 0.25
    python benchmarks/models.py --models quarter_multiresunet=1 unet=0.25 --runs 10
    python benchmarks/models.py --toy                              # quarter_multiresunet at 32x32 (tests)

Latency runs at the paper's input size times `--scale` (per model with `name=scale`), each side rounded to a
multiple of 32; parameters and FLOPs are always counted at the paper's size. Calibration images for INT8 are
the bundled microplastic sample (real images, never random data), at the run size, normalised as the model
expects. Achieved GFLOP/s = 2 x MACs at the run size / median latency; peak = the faster float32 matmul of
NumPy and TensorFlow, measured before and after the models (the mean of the two peaks is used).
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common  # noqa: E402  (imports zoo before TensorFlow)

import numpy as np  # noqa: E402
import tf_keras as keras  # noqa: E402

import zoo  # noqa: E402
from deploy import convert  # noqa: E402
from deploy.pipeline import latency_ms  # noqa: E402
from zoo.training import data  # noqa: E402
from zoo.models.complexity import count_flops, count_macs, count_params  # noqa: E402

NAME = "models"
HEADERS = ("model", "paper input", "params M", "paper params M", "GFLOPs", "paper GFLOPs", "GMACs", "paper GMACs",
           "run input", "fp32 ms", "int8 ms", "fp32 GFLOP/s", "fp32 % peak", "int8 GOP/s", "int8 % peak",
           "fp32 KB", "int8 KB", "TFLM arena KB")
TFLM_SCRIPT = ("import sys; sys.path.insert(0, sys.argv[1]); from deploy import tflm; "
               "print(tflm.smallest_arena(open(sys.argv[2], 'rb').read()))")


def parse_models(items, default_scale: float) -> list[tuple[str, float]]:
    """`name` or `name=scale` items as (name, scale); no items means every paper's named model (not the pairs)."""
    out = []
    for item in items or zoo.list_models(pairs=False):
        name, _, scale = item.partition("=")
        if name not in zoo.list_models():
            raise common.BenchmarkError(zoo.models.registry.unknown_model_message(name))
        try:
            s = float(scale) if scale else default_scale
        except ValueError:
            raise common.BenchmarkError(f"--models {item}: scale {scale!r} is not a number") from None
        if not 0 < s <= 1:
            raise common.BenchmarkError(f"--models {item}: scale must be in (0, 1], got {s}")
        out.append((name, s))
    return out


def scaled_shape(shape, scale: float, multiple: int = 32) -> tuple[int, int, int]:
    """(H, W, C) with H and W times `scale`, rounded to a multiple of `multiple` (at least `multiple`)."""
    h, w, c = shape
    return (max(multiple, round(h * scale / multiple) * multiple), max(multiple, round(w * scale / multiple) * multiple), c)


def calibration_images(name: str, shape, count: int) -> list[np.ndarray]:
    """`count` real images (the bundled sample) at `shape`, normalised for model `name`, as batch-1 arrays."""
    cfg = data.DataConfig(shape[:2], shape[2], normalization=zoo.get_model_info(name).get("input_normalization"))
    x = data.normalize(data.load_arrays(data.find_pairs(common.SAMPLE_DATA)[:count], cfg)[0], cfg)
    return [x[i:i + 1] for i in range(len(x))]


def tflm_arena(int8_bytes: bytes, timeout: float) -> int | None:
    """Smallest TFLite-Micro arena in bytes (deploy.tflm bisection, in a subprocess with a time cap), or None."""
    with tempfile.NamedTemporaryFile(suffix=".tflite") as f:
        f.write(int8_bytes)
        f.flush()
        try:
            res = subprocess.run([sys.executable, "-c", TFLM_SCRIPT, str(common.ROOT), f.name], capture_output=True,
                                 text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
    lines = res.stdout.split()
    return int(lines[-1]) if res.returncode == 0 and lines else None


def paper_counts(name: str) -> dict:
    """Parameters, FLOPs and MACs of the default model at its paper's input size, with the paper's figures."""
    info = zoo.get_model_info(name)
    shape = tuple(info.get("input_shape", (512, 512, 3)))
    model = zoo.build_model(name, input_shape=shape)
    out = {"shape": shape, "params": count_params(model), "flops": count_flops(model), "macs": count_macs(model),
           "paper_params": info.get("params"), "paper_flops": info.get("flops"), "paper_macs": info.get("macs")}
    keras.backend.clear_session()
    return out


def measure_model(name: str, scale: float, a) -> list:
    """One table row for model `name`: counts at paper size, conversion and timings at the scaled size."""
    t0 = time.perf_counter()
    paper = paper_counts(name)
    shape = scaled_shape(paper["shape"], scale)
    model = zoo.build_model(name, input_shape=shape)
    macs = count_macs(model)
    calib = calibration_images(name, shape, a.calibration)
    blobs = {"fp32": convert.to_tflite(model, "fp32"), "int8": convert.to_tflite(model, "int8", calib)}
    keras.backend.clear_session()
    lat = {m: latency_ms(convert.LiteRTModel(b, num_threads=a.threads), calib[0], runs=a.runs, warmup=a.warmup)
           for m, b in blobs.items()}
    rate = {m: 2 * macs / (lat[m] / 1000) / 1e9 for m in lat}
    arena = tflm_arena(blobs["int8"], a.tflm_timeout) if len(blobs["int8"]) <= a.tflm_max_kb * 1024 else None
    print(f"{name}: {time.perf_counter() - t0:.0f} s", flush=True)

    def giga(v):
        return None if v is None else v / 1e9

    return [name, "x".join(map(str, paper["shape"])), paper["params"] / 1e6,
            None if paper["paper_params"] is None else paper["paper_params"] / 1e6, giga(paper["flops"]),
            giga(paper["paper_flops"]), giga(paper["macs"]), giga(paper["paper_macs"]), "x".join(map(str, shape)),
            lat["fp32"], lat["int8"], rate["fp32"], None, rate["int8"], None, len(blobs["fp32"]) / 1024,
            len(blobs["int8"]) / 1024, None if arena is None else arena / 1024]


def peak_line(rates: dict) -> str:
    """'NumPy 45.1 / TensorFlow 80.2 GFLOP/s'."""
    return f"NumPy {rates['numpy']:.1f} / TensorFlow {rates['tensorflow']:.1f} GFLOP/s"


def plot(rows, path) -> None:
    """Latency (fp32 vs int8, log scale) and achieved fraction of peak per model."""
    fig, (ax1, ax2) = common.new_figure(2, width=max(6, len(rows) * 0.9))
    x = np.arange(len(rows))
    names = [f"{r[0]}\n{r[8]}" for r in rows]
    for i, (label, lat_col, pct_col) in enumerate((("fp32", 9, 12), ("int8", 10, 14))):
        ax1.bar(x + (i - 0.5) * 0.4, [r[lat_col] for r in rows], 0.4, label=label)
        ax2.bar(x + (i - 0.5) * 0.4, [r[pct_col] for r in rows], 0.4, label=label)
    ax1.set_yscale("log")
    ax1.set_ylabel("LiteRT latency, batch 1 (ms)")
    ax2.set_ylabel("achieved / float32 matmul peak (%)")
    for ax in (ax1, ax2):
        ax.set_xticks(x, names, rotation=60, ha="right", fontsize=7)
        ax.legend()
    fig.tight_layout()
    common.save_figure(fig, path)


def main(argv=None) -> int:
    p = common.base_parser(__doc__)
    p.add_argument("--models", nargs="*",
                   help="model names, optionally name=scale (default: every paper's named model)")
    p.add_argument("--scale", type=float, default=0.25, help="input-size factor for latency (default 0.25)")
    p.add_argument("--runs", type=int, default=10, help="timed LiteRT runs per file (median)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--calibration", type=int, default=4, help="calibration images for INT8")
    p.add_argument("--tflm-max-kb", type=float, default=2048, help="TFLM arena only for INT8 files up to this size")
    p.add_argument("--tflm-timeout", type=float, default=120, help="seconds per TFLM arena search")
    a = p.parse_args(argv)
    if a.toy:
        a.models, a.runs, a.warmup, a.calibration = a.models or ["quarter_multiresunet=0.0625"], 2, 1, 2
    models = parse_models(a.models, a.scale)
    common.set_tf_threads(a.threads)
    peak_before = common.matmul_peak_gflops()
    rows = [measure_model(name, scale, a) for name, scale in models]
    peak_after = common.matmul_peak_gflops()
    peak = (peak_before["peak"] + peak_after["peak"]) / 2
    for r in rows:
        r[12], r[14] = 100 * r[11] / peak, 100 * r[13] / peak
    common.check_finite_positive(rows, [2, 4, 6, 9, 10, 11, 13, 15, 16])
    out = Path(a.output)
    plot(rows, out / f"{NAME}.png")
    intro = (f"LiteRT batch 1, {a.threads} threads, median of {a.runs} runs after {a.warmup} warm-up. Params, "
             f"GFLOPs (multiplications and additions separately, paper 002) and GMACs (conv/dense multiply-accumulates, "
             f"papers 000/003/004) at the paper's input size; latency at 'run input'. Peak: the faster float32 "
             f"2048^3 matmul of NumPy and TensorFlow, {peak_line(peak_before)} before and {peak_line(peak_after)} "
             f"after the models (mean of the peaks {peak:.1f} GFLOP/s); "
             f"achieved = 2 x MACs at run input / latency (int8: integer ops against the float peak). TFLM arena: "
             f"INT8 files up to {a.tflm_max_kb:g} KB, {a.tflm_timeout:g} s cap, '-' = not tried or over the cap.")
    best = max(rows, key=lambda r: r[12])
    reading = (f"all {len(rows)} models measured; float32 reaches {min(r[12] for r in rows):.0f}-{best[12]:.0f} % of "
               f"the matmul peak ({best[0]} best); INT8 is {'faster' if sum(r[10] < r[9] for r in rows) * 2 > len(rows) else 'not faster'} "
               f"than float32 in {sum(r[10] < r[9] for r in rows)} of {len(rows)} models. "
               + ("Latencies are at reduced input size where 'run input' differs from 'paper input'."
                  if any(r[1] != r[8] for r in rows) else "All at paper size."))
    common.write_result(out, NAME, "Models: size, FLOPs and LiteRT latency", argv, intro,
                        common.markdown_table(HEADERS, rows), reading, a.threads)
    return 0


if __name__ == "__main__":
    sys.exit(common.run_main(main))
