"""Command-line start-up: wall time of `--help` and of a bad flag for each command (median of 5 runs, each a fresh
subprocess), whether `--help` imported TensorFlow, and how many lines appear before the command's own first line
(`usage:` or `error:`). Targets: under 1 s, no TensorFlow, 0 lines. One more row per mode times an argument error
found after TensorFlow has loaded (`train.py --model` with an unknown name), by default and with `--verbose`,
which shows the libraries' start-up chatter the default hides.

    python benchmarks/cli_startup.py
    python benchmarks/cli_startup.py --toy           # 1 run each, two commands (tests)
    python benchmarks/cli_startup.py --baseline DIR  # also time another checkout of the project (e.g. the previous
                                                     # commit: git archive HEAD | tar -x -C DIR)
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common  # noqa: E402

NAME = "cli_startup"
TARGET_S = 1.0
COMMANDS = {  # label: arguments after `python`, relative to the project root
    "train.py": ["train.py"],
    "predict.py": ["predict.py"],
    "python -m deploy": ["-m", "deploy"],
    "python -m deploy.tiling": ["-m", "deploy.tiling"],
    "python -m zoo.tools.histograms": ["-m", "zoo.tools.histograms"],
    "python -m deploy.model_card": ["-m", "deploy.model_card"],
    "python -m zoo.tools.grid": ["-m", "zoo.tools.grid"],
    "python -m zoo.tools.time_cell": ["-m", "zoo.tools.time_cell"],
}
LATE_ERROR = ["train.py", "--model", "half_multiresunt"]  # found by the model registry, after TensorFlow loads
HEADERS = ("command", "--help (s)", "bad flag (s)", "--help CPU (s)", "--help imports TensorFlow",
           "lines before ours: --help", "lines before ours: bad flag")


def run_once(root: Path, args: list, ours: str) -> tuple[float, int, bool, float]:
    """(wall seconds, lines printed before the first line starting with `ours`, TensorFlow imported, CPU seconds)
    of one `python -X importtime ARGS` in `root`, stdout and stderr merged as a terminal shows them. CPU seconds
    (user + system of the command) depend less on the other jobs sharing the machine than wall time does."""
    env = dict(os.environ, PYTHONPATH=str(root))
    cpu_before = _children_cpu()
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-X", "importtime", *args], cwd=root, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=600)
    seconds = time.perf_counter() - start
    cpu = _children_cpu() - cpu_before
    lines = proc.stdout.splitlines()
    imported = {line.rsplit("|", 1)[-1].strip() for line in lines if line.startswith("import time:")}
    shown = [line for line in lines if not line.startswith("import time:")]
    before = next((i for i, line in enumerate(shown) if line.startswith(ours)), len(shown))
    return seconds, before, "tensorflow" in imported, cpu


def _children_cpu() -> float:
    """User + system CPU seconds of the finished child processes so far."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(root: Path, args: list, ours: str, repeats: int) -> dict:
    """Median wall time over `repeats` runs, the most lines seen before ours, and whether TensorFlow loaded."""
    runs = [run_once(root, args, ours) for _ in range(repeats)]
    return {"seconds": statistics.median(r[0] for r in runs), "lines_before": max(r[1] for r in runs),
            "tensorflow": any(r[2] for r in runs), "cpu": statistics.median(r[3] for r in runs)}


def command_rows(root: Path, commands: dict, repeats: int) -> list:
    """One table row per command: --help and --no-such-flag timings and lines before ours."""
    rows = []
    for label, args in commands.items():
        helped = measure(root, [*args, "--help"], "usage:", repeats)
        bad = measure(root, [*args, "--no-such-flag"], "error:", repeats)
        rows.append([label, round(helped["seconds"], 3), round(bad["seconds"], 3), round(helped["cpu"], 3),
                     "yes" if helped["tensorflow"] else "no", helped["lines_before"], bad["lines_before"]])
    return rows


def late_error_rows(root: Path, repeats: int) -> list:
    """`train.py --model <typo>` (TensorFlow loads before the error), by default and with --verbose."""
    rows = []
    for label, extra in (("train.py --model <typo> (TensorFlow loads)", []), ("... with --verbose", ["--verbose"])):
        m = measure(root, [*LATE_ERROR, *extra], "error:", repeats)
        rows.append([label, None, round(m["seconds"], 3), None, "yes" if m["tensorflow"] else "no", None,
                     m["lines_before"]])
    return rows


def plot(rows: list, baseline: list | None, path: Path) -> None:
    """Bars of --help and bad-flag seconds per command, the 1 s target dashed (and the baseline's, if any)."""
    import numpy as np

    timed = [r for r in rows if r[1] is not None]
    fig, (ax,) = common.new_figure(width=8.0, height=4.2)
    x = np.arange(len(timed))
    width = 0.2 if baseline else 0.35
    ax.bar(x - width / 2 - (width if baseline else 0), [r[1] for r in timed], width, label="--help")
    ax.bar(x + width / 2 - (width if baseline else 0), [r[2] for r in timed], width, label="bad flag")
    if baseline:
        base = {r[0]: r for r in baseline}
        ax.bar(x + width / 2 + width / 2, [base[r[0]][1] if r[0] in base else 0 for r in timed], width,
               label="--help, baseline", color="#bbbbbb")
        ax.bar(x + 3 * width / 2 + width / 2, [base[r[0]][2] if r[0] in base else 0 for r in timed], width,
               label="bad flag, baseline", color="#888888")
        ax.set_yscale("log")
    ax.axhline(TARGET_S, color="red", ls="--", label=f"target {TARGET_S:g} s")
    ax.set_xticks(x, [r[0].replace("python -m ", "-m ") for r in timed], rotation=30, ha="right", fontsize=8)
    ax.set(ylabel="wall time (s, median)", title="Command-line start-up: --help and an argument error")
    ax.legend(fontsize=7)
    fig.tight_layout()
    common.save_figure(fig, path)


def main(argv=None) -> int:
    p = common.base_parser(__doc__)
    p.add_argument("--repeats", type=int, default=5, help="runs per measurement (median; default 5)")
    p.add_argument("--baseline", default=None, metavar="DIR", help="another checkout to time the same way")
    p.add_argument("--baseline-repeats", type=int, default=2, help="runs per measurement of the baseline (default 2)")
    a = p.parse_args(argv)
    commands = COMMANDS
    if a.toy:
        commands, a.repeats = {k: COMMANDS[k] for k in ("train.py", "python -m deploy")}, 1
    if a.repeats < 1:
        raise common.BenchmarkError(f"--repeats must be at least 1, got {a.repeats}")
    if a.baseline and not (Path(a.baseline) / "train.py").is_file():
        raise common.BenchmarkError(f"--baseline {a.baseline}: not a checkout of the project (no train.py)")
    rows = command_rows(common.ROOT, commands, a.repeats)
    rows += late_error_rows(common.ROOT, a.repeats) if not a.toy else []
    common.check_finite_positive(rows, [1, 2, 3])
    baseline = command_rows(Path(a.baseline), commands, max(1, a.baseline_repeats)) if a.baseline else None
    plot(rows, baseline, Path(a.output) / f"{NAME}.png")
    table = common.markdown_table(HEADERS, rows)
    if baseline:
        table += (f"\nBaseline (`--baseline`: the same commands in the other checkout, median of "
                  f"{max(1, a.baseline_repeats)}):\n\n") + \
                 common.markdown_table(HEADERS, baseline)
    timed = [r for r in rows if r[1] is not None]
    slowest = max(max(r[1], r[2]) for r in timed)
    chatter = sum(r[5] + r[6] for r in timed)
    cpu = max(r[3] for r in timed)
    late, verbose = (rows[-2], rows[-1]) if not a.toy else (None, None)
    intro = (f"{len(commands)} commands, {a.repeats} runs each (median wall time of a fresh `python -X importtime` "
             "subprocess; importtime shows which modules loaded and costs a few ms). Lines before ours: lines on "
             "stdout + stderr before the command's own `usage:` / `error:` line. CPU: user + system seconds of the "
             "command's process (median), which the other jobs on the machine change less than wall time.")
    reading = (f"slowest --help or bad flag {slowest:.2f} s (target < {TARGET_S:g} s: "
               f"{'met' if slowest < TARGET_S else 'NOT met'} at load average {os.getloadavg()[0]:.1f}; the most CPU "
               f"a --help used: {cpu:.2f} s); TensorFlow imported by --help in "
               f"{sum(r[4] == 'yes' for r in timed)} of {len(timed)} commands; {chatter} lines of chatter before our "
               "own first line in all of them together."
               + (f" After TensorFlow has loaded an argument error takes {late[2]:.1f} s with {late[6]} lines before "
                  f"it; `--verbose` shows {verbose[6]} lines of library start-up chatter first." if late else "")
               + (" Toy run: not a measurement." if a.toy else ""))
    common.write_result(a.output, NAME, "Command-line start-up and chatter", argv, intro, table, reading)
    return 0


if __name__ == "__main__":
    sys.exit(common.run_main(main))
