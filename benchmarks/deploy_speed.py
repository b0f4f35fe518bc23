"""Deployment speed: wall time per step and peak memory of the full `python -m deploy` command on a run folder.

    python benchmarks/deploy_speed.py runs/<run>          # the default Half MultiResUNet run (train.py's defaults)
    python benchmarks/deploy_speed.py runs/<run> --quantize int8 --targets tflite
    python benchmarks/deploy_speed.py --toy               # a 32x32 Quarter MultiResUNet run with random weights (tests)

Runs `python -m deploy RUN --quantize float16,dynamic,int8,qat --targets tflite,onnx,tflm,edgetpu --mcu-ram 256K`
(the flags are options) in a subprocess writing to a temporary folder. Wall time is the whole command; its steps
are `step_times` in its report.json (deploy/timing.py: wall and CPU seconds, peak RSS at each step's end), and
"outside the steps" is the rest: imports, reading the run record, loading the model, writing the report, exiting.
Peak memory is the larger of the biggest process's peak resident set size (the kernel's `RUSAGE_CHILDREN`
high-water mark) and the most the command and its child processes (calibration workers, the TFLite-Micro arena
probe) held together, sampled every 100 ms from /proc (the RSS curve in the plot). CPU seconds (user + system)
are given too: on a shared machine they vary less with the load than wall time. Targets: <= 90 s and <= 2 GB for
the default run on 2 cores.
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common  # noqa: E402  (imports zoo before TensorFlow)

NAME = "deploy_speed"
HEADERS = ("step", "wall s", "share of wall", "CPU s", "peak RSS at its end (MB)")
TARGET_SECONDS, TARGET_GB = 90, 2.0
FULL = ("--quantize", "float16,dynamic,int8,qat", "--targets", "tflite,onnx,tflm,edgetpu", "--mcu-ram", "256K")


def run_deploy(run_dir, flags, out_dir) -> dict:
    """Run the deploy command in a subprocess; wall seconds, peak RSS (MB), the RSS curve, its log and steps."""
    cmd = [sys.executable, "-m", "deploy", str(run_dir), *flags, "--output", str(out_dir)]
    env = dict(os.environ, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=common.ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    curve, stop = [], threading.Event()

    def sample():
        while not stop.wait(0.1):
            rss = common.tree_rss_mb(proc.pid)  # the command and its workers (calibration, TFLite-Micro probe)
            if rss is not None:
                curve.append((time.perf_counter() - start, rss))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    lines = []
    for line in proc.stdout:
        lines.append(line.rstrip("\n"))
        print(f"  | {lines[-1]}", flush=True)
    code = proc.wait()
    wall = time.perf_counter() - start
    stop.set()
    sampler.join()
    if code != 0:
        tail = next((ln for ln in reversed(lines) if ln.strip()), "no output")
        raise common.BenchmarkError(f"deploy exited with {code}: {tail}")
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak = max([usage.ru_maxrss / 1024] + [rss for _, rss in curve])  # largest process, or the sampled sum of all
    return {"wall": wall, "peak_mb": peak, "cpu": usage.ru_utime + usage.ru_stime, "curve": curve,
            "steps": json.loads((Path(out_dir) / "report.json").read_text())["step_times"],
            "command": cmd}


def plot(result, rows, path) -> None:
    fig, (ax1, ax2) = common.new_figure(2, width=6.5)
    names, seconds = [r[0] for r in rows[:-1]], [r[1] for r in rows[:-1]]
    ax1.barh(range(len(names)), seconds, color="tab:blue")
    ax1.set_yticks(range(len(names)), names, fontsize=7)
    ax1.invert_yaxis()
    ax1.axvline(TARGET_SECONDS, color="red", ls="--", label=f"target {TARGET_SECONDS} s (whole command)")
    ax1.set(xlabel="seconds", title=f"deploy steps: {result['wall']:.0f} s in all")
    ax1.legend(fontsize=7)
    if result["curve"]:
        t, rss = zip(*result["curve"])
        ax2.plot(t, [v / 1024 for v in rss], color="tab:green")
    ax2.axhline(TARGET_GB, color="red", ls="--", label=f"target {TARGET_GB:g} GB")
    ax2.set(xlabel="seconds since start", ylabel="resident memory (GB)",
            title=f"RSS over time: peak {result['peak_mb'] / 1024:.2f} GB")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    common.save_figure(fig, path)


def main(argv=None) -> int:
    p = common.base_parser(__doc__)
    p.add_argument("run", nargs="?", help="a train.py run folder (required unless --toy)")
    p.add_argument("--quantize", default=FULL[1])
    p.add_argument("--targets", default=FULL[3])
    p.add_argument("--mcu-ram", default=FULL[5])
    a = p.parse_args(argv)
    flags = ["--quantize", a.quantize, "--targets", a.targets] + (["--mcu-ram", a.mcu_ram] if a.mcu_ram else [])
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if a.toy:
            run_dir = common.toy_run(tmp)
            flags = ["--quantize", "int8,qat", "--targets", "tflite,tflm", "--finetune-epochs", "1"]
            described = "The run: a 32x32 Quarter MultiResUNet with random weights (toy)."
        elif not a.run:
            raise common.BenchmarkError("give a run folder (python train.py --model half_multiresunet makes one)")
        else:
            from zoo.training.run import RunConfig, RunError

            run_dir = Path(a.run)
            try:
                cfg = RunConfig.from_json(run_dir / "config.json")  # the run's record, as deploy reads it
            except RunError as e:
                raise common.BenchmarkError(str(e)) from None
            described = (f"The run: {cfg.model} at {'x'.join(map(str, cfg.image_size))}, trained {cfg.epochs} "
                         f"epochs on {Path(cfg.data).name}.")
        result = run_deploy(run_dir, flags, tmp / "out")
    steps, wall, cpu = result["steps"], result["wall"], result["cpu"]
    step_cpu = sum(s["cpu_seconds"] for s in steps["steps"].values())
    rows = [["outside the steps (imports, run record, model load, report, exit; CPU: also the child processes')",
             round(wall - steps["total_seconds"], 1), None,
             round(cpu - step_cpu, 1), None]]
    rows += [[name, round(s["seconds"], 1), None, round(s["cpu_seconds"], 1), s["peak_rss_mb"]]
             for name, s in steps["steps"].items()]
    for row in rows:
        row[2] = f"{row[1] / wall:.0%}"
    rows.append(["whole command", round(wall, 1), "100%", round(cpu, 1), round(result["peak_mb"])])
    common.check_finite_positive([rows[-1]], (1, 3, 4))
    plot(result, rows, Path(a.output) / f"{NAME}.png")
    met_t, met_m = wall <= TARGET_SECONDS, result["peak_mb"] / 1024 <= TARGET_GB
    top = sorted(rows[:-1], key=lambda r: -r[1])[:3]
    reading = (f"{wall:.0f} s against a target of {TARGET_SECONDS} s ({'met' if met_t else 'not met'}; "
               f"{result['cpu']:.0f} CPU seconds), peak RSS "
               f"{result['peak_mb'] / 1024:.2f} GB against {TARGET_GB:g} GB ({'met' if met_m else 'not met'}). "
               f"Largest steps: " + ", ".join(f"{r[0]} {r[1]:g} s ({r[2]}, {r[3]:g} CPU s)" for r in top) + "."
               + (" Toy run: a 32 px model with random weights; not a measurement." if a.toy else ""))
    shown = " ".join(flags)
    intro = (f"`python -m deploy {common.display_path(run_dir) if not a.toy else 'TOY_RUN'} {shown}` in a "
             f"subprocess, one run; seconds per step from the command's own `step times` line (steps in the order "
             f"they ran), CPU seconds and peak RSS of the deploy process itself at the end of each step; the whole "
             f"command's CPU and peak also count its child processes (peak: sampled every 100 ms). INT8 calibration "
             f"runs in worker processes beside the steps after `convert int8` (with QAT: one worker at low priority, "
             f"until `score int8` at the end): its wall time is inside theirs, its CPU time in the whole command's. "
             + described)
    common.write_result(a.output, NAME, "Deployment: time per step and peak memory of python -m deploy", argv, intro,
                        common.markdown_table(HEADERS, rows), reading)
    return 0


if __name__ == "__main__":
    sys.exit(common.run_main(main))
