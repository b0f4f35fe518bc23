"""Shared pieces of the benchmarks: the machine/version header, medians of timings, a dense-matmul peak,
Markdown tables, atomically written result files (`<name>.md`, `<name>.png`) and `RESULTS.md`.

Every benchmark imports this module first: it puts the project root on `sys.path` and imports `zoo`
(which selects Keras 2) before TensorFlow loads.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import zoo  # noqa: E402,F401  (selects Keras 2 before TensorFlow loads)
import numpy as np  # noqa: E402

from deploy.timing import cpu_model  # noqa: E402,F401  (also for the benchmarks)
from zoo.files import atomic_path, atomic_write_text  # noqa: E402

RESULTS_DIR = ROOT / "benchmarks" / "results"
SAMPLE_DATA = ROOT / "data" / "sample_microplastics"
SHARED_DATA = ROOT.parent / "shared" / "data"
BENCHMARKS = ("models", "input_pipeline", "accuracy", "scaling", "mcu_tiling", "histogram_collapse", "predict_speed", "cli_startup", "deploy_speed")  # the order of RESULTS.md


class BenchmarkError(ValueError):
    """Bad input to a benchmark; the message is one line."""


def versions() -> dict:
    """Versions of Python, TensorFlow, tf_keras and LiteRT."""
    import tensorflow as tf
    import tf_keras
    from importlib.metadata import PackageNotFoundError, version

    try:
        litert = version("ai-edge-litert")
    except PackageNotFoundError:
        litert = "absent"
    return {"Python": platform.python_version(), "TensorFlow": tf.__version__, "tf_keras": tf_keras.__version__,
            "LiteRT": litert}


def machine_line(threads: int | None = None) -> str:
    """One sentence: date (UTC), CPU model, cores, versions and the thread count of the timings."""
    v = ", ".join(f"{k} {val}" for k, val in versions().items())
    load = ", load average %.1f" % os.getloadavg()[0] if hasattr(os, "getloadavg") else ""
    thr = f"; {threads} LiteRT/TF thread(s)" if threads else ""
    return (f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {cpu_model()} "
            f"({os.cpu_count()} logical cores{load}{thr}); {v}.")


def median_time(fn, *, repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time of `fn()` in seconds over `repeats` calls after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def matmul_peak_gflops(n: int = 2048, repeats: int = 5) -> dict:
    """The CPU's float32 dense-matmul rate in GFLOP/s (n x n times n x n, 2 n^3 FLOPs), measured with NumPy's
    BLAS and with TensorFlow (oneDNN); returns {"numpy": ..., "tensorflow": ..., "peak": the larger}."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
    ta, tb = tf.constant(a), tf.constant(b)
    rates = {"numpy": 2 * n ** 3 / median_time(lambda: a @ b, repeats=repeats, warmup=2) / 1e9,
             "tensorflow": 2 * n ** 3 / median_time(lambda: tf.linalg.matmul(ta, tb).numpy(), repeats=repeats,
                                                    warmup=2) / 1e9}
    return rates | {"peak": max(rates.values())}


def markdown_table(headers, rows) -> str:
    """A Markdown table; floats get 4 significant digits (whole numbers from 1000 up), None becomes '-'."""
    def cell(v):
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.0f}" if abs(v) >= 1000 else f"{v:.4g}"
        return str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def check_finite_positive(rows, columns, *, positive: bool = True) -> None:
    """Raise BenchmarkError when a measured number in `columns` (indices) is not finite (and positive)."""
    for row in rows:
        for c in columns:
            v = row[c]
            if v is not None and not (isinstance(v, (int, float)) and math.isfinite(v) and (v > 0 or not positive)):
                raise BenchmarkError(f"measured value {v!r} in row {row[0]!r} is not finite{' and positive' * positive}")


def command_line(name: str, argv) -> str:
    """The command that reproduces a run, for the result file."""
    return "python benchmarks/" + name + ".py " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))


def write_result(out_dir, name: str, title: str, argv, intro: str, table: str, reading: str, threads=None) -> Path:
    """Write `<out_dir>/<name>.md` (title, machine, command, intro, table, reading), refresh RESULTS.md beside
    the results folder, print the table; returns the .md path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    text = (f"## {title}\n\n{machine_line(threads)}\n\nCommand: `{command_line(name, argv)}`\n\n{intro}\n\n{table}\n"
            f"**Reading:** {reading}\n")
    path = out_dir / f"{name}.md"
    atomic_write_text(path, text)
    write_results_index(out_dir)
    print(text, flush=True)
    return path


def save_figure(fig, path) -> None:
    """Save a matplotlib figure as PNG atomically and close it."""
    import matplotlib.pyplot as plt

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(Path(path)) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)


def rss_mb(pid: int | str = "self") -> float | None:
    """Resident set size of a process now, in MB, from /proc (Linux); None where it cannot be read."""
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20
    except (OSError, ValueError, IndexError):
        return None


def toy_run(folder: Path) -> Path:
    """A run folder with a 32x32 Quarter MultiResUNet (random weights) on the bundled sample, for --toy."""
    run_dir = folder / "toy_run"
    run_dir.mkdir()
    zoo.build_model("quarter_multiresunet", input_shape=(32, 32, 3)).save(run_dir / "best.keras")
    (run_dir / "config.json").write_text(json.dumps({
        "model": "quarter_multiresunet", "data": str(SAMPLE_DATA), "image_size": [32, 32], "loss": "bce",
        "seed": 0, "val_fraction": 0.15, "test_fraction": 0.15}))
    return run_dir


def tree_rss_mb(pid: int) -> float | None:
    """Resident set size of a process and all its descendants now, in MB (Linux /proc); None when it is gone."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after "pid (name)": state, ppid, ...
            parents[int(stat.parent.name)] = int(fields[1])
        except (OSError, ValueError, IndexError):
            continue
    tree, grew = {pid}, True
    while grew:
        more = {child for child, parent in parents.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    sizes = {p: rss_mb(p) for p in tree}
    return None if sizes[pid] is None else sum(v for v in sizes.values() if v)


def new_figure(ncols: int = 1, width: float = 6.0, height: float = 4.0):
    """(figure, axes list) with the headless Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height), squeeze=False)
    return fig, list(axes[0])


def write_results_index(out_dir) -> Path:
    """`RESULTS.md` beside `out_dir`: every benchmark's result file found in `out_dir`, in a fixed order, then
    `out_dir/notes.md` when present."""
    out_dir = Path(out_dir)
    parts = ["# Benchmark results\n\n"
             "Written by the benchmarks themselves (`python benchmarks/<name>.py`); each section names its machine, "
             "versions, date, threads and the command that produced it. The machine has 2 CPU cores shared with "
             "other jobs, so absolute timings are noisy; ratios are measured side by side in one run.\n"]
    for name in BENCHMARKS:
        path = out_dir / f"{name}.md"
        if path.is_file():
            parts.append(f"\n{path.read_text()}\n![{name}]({out_dir.name}/{name}.png)\n")
        else:
            parts.append(f"\n## {name}\n\nNot run yet: `python benchmarks/{name}.py`.\n")
    notes = out_dir / "notes.md"  # hand-written: what ran at reduced size or budget, what did not run
    if notes.is_file():
        parts.append(f"\n{notes.read_text()}")
    index = out_dir.parent / "RESULTS.md"
    atomic_write_text(index, "".join(parts))
    return index


def display_path(path) -> str:
    """A path relative to the project's parent folder when inside it (`wt-bench/data/...`, `shared/data/...`)."""
    try:
        return str(Path(path).resolve().relative_to(ROOT.parent))
    except ValueError:
        return str(path)


def base_parser(doc: str) -> argparse.ArgumentParser:
    """An argparse parser with the benchmarks' shared options (`--output`, `--toy`, `--threads`)."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--output", default=str(RESULTS_DIR), help="results folder (default benchmarks/results)")
    p.add_argument("--toy", action="store_true", help="tiny preset for the tests: seconds, not minutes")
    p.add_argument("--threads", type=int, default=2, help="LiteRT and TensorFlow threads (default 2)")
    return p


def set_tf_threads(threads: int) -> None:
    """Pin TensorFlow's intra- and inter-op thread pools (before any op runs)."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # already initialised (tests run several benchmarks in one process)
        pass


def run_main(main, argv=None) -> int:
    """Run a benchmark's `main`; bad input becomes one line on stderr and exit code 2."""
    from zoo.training.data import DataError

    try:
        return main(argv)
    except (BenchmarkError, DataError, KeyError) as e:
        print(f"error: {e.args[0] if e.args else e}", file=sys.stderr)
        return 2
