"""Kernel histograms on a real run: paper 002's stage reading (section 4.5) on a model trained on real data, and
the smaller model it suggests trained on the same split (`python -m zoo.tools.histograms RUN --apply`).

    python benchmarks/histogram_collapse.py                       # multiresunet, DSB2018 nuclei 128x128, 15 epochs
    python benchmarks/histogram_collapse.py --run runs/<run>      # report on a run trained already (its own record)
    python benchmarks/histogram_collapse.py --toy                 # half_multiresunet, bundled sample, 32x32 (tests)

Steps, each the project's own command, run as a subprocess and timed: `train.py --recipe paper002_microplastics`
with the model, data, size and epochs given here and `--histogram-freq 1` (weighted BCE, Adam 1e-3 with paper
002's decay, batch 4, augmentation, one train / val / test split by seed 0); `python -m zoo.tools.histograms RUN`
(the stage analysis); `python -m zoo.tools.histograms RUN --apply --epochs N` (the suggestion trained on the
recorded split, both models' parameters, FLOPs, test Dice, r.w. F1 and INT8 file). When no stage collapses,
`--apply` refuses with one line (recorded); the paper's cut is then measured anyway by analysing again with
`--shrink --forced-shrink` (a stated, non-default threshold, into `RUN/analysis_shrink<S>/`) and applying that. Writes
`histogram_collapse.md` and `.png` (spread per stage over the epochs) plus the analysis' stages and ridges
figures as `histogram_collapse_stages.png` and `histogram_collapse_ridges.png`.
"""
from __future__ import annotations

import json
import math
import shlex
import subprocess
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common  # noqa: E402  (imports zoo before TensorFlow)

NAME = "histogram_collapse"
FIGURES = {"trends": NAME, "stages": f"{NAME}_stages", "ridges": f"{NAME}_ridges"}
MAX_FIGURE_WIDTH = 1100  # pixels; wider analysis figures are scaled down for the results folder


def parse(argv):
    p = common.base_parser(__doc__)
    p.add_argument("--model", default="multiresunet", help="a model with a stage plan (default multiresunet)")
    p.add_argument("--data", default=str(common.SHARED_DATA / "dsb2018_nuclei"), help="images/ + masks/ folder")
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--epochs", type=int, default=15, help="epochs of the analysed run")
    p.add_argument("--apply-epochs", type=int, default=None, help="epochs of the suggested model (default: the run's)")
    p.add_argument("--runs", default="runs/histogram_collapse", help="folder for the trained runs")
    p.add_argument("--run", default=None, help="report on this trained run instead of training one")
    p.add_argument("--shrink", type=float, default=None, help="analysis threshold (default: the tool's)")
    p.add_argument("--forced-shrink", type=float, default=1.02,
                   help="when the analysis flags no stage, also apply paper 002's cut by analysing again with this "
                        "--shrink (kernels narrower than SHRINK x sigma0 count as collapsed), stated as forced; 0: do not")
    a = p.parse_args(argv)
    if a.toy:
        a.model, a.data, a.image_size, a.epochs = "half_multiresunet", str(common.SAMPLE_DATA), 32, 1
        a.apply_epochs, a.shrink = 1, a.shrink or 1000.0  # every kernel flagged: the apply step runs
    return a


def step(cmd: list, log: Path, ok=(0,)) -> tuple[int, str]:
    """Run one command (nice'd, output appended to `log`); (exit code, its last stderr line); BenchmarkError for
    an exit code not in `ok`."""
    with open(log, "a") as f:
        f.write(f"$ {shlex.join(cmd)}\n")
        f.flush()
        done = subprocess.run(["nice", "-n", "5", *cmd], stdout=f, stderr=subprocess.PIPE, text=True, cwd=common.ROOT)
        f.write(done.stderr)
    if done.returncode not in ok:
        raise common.BenchmarkError(f"`{shlex.join(cmd)}` failed with exit code {done.returncode}; see {log}")
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    return done.returncode, lines[-1] if lines else ""


def train_command(a, run_name: str) -> list:
    return [sys.executable, "train.py", "--recipe", "paper002_microplastics", "--model", a.model, "--data", a.data,
            "--no-mask-invert", "--folds", "0", "--image-size", str(a.image_size), "--epochs", str(a.epochs),
            "--histogram-freq", "1", "--output", a.runs, "--name", run_name, "--overwrite"]


def analysis_flags(a) -> list:
    return ["--shrink", str(a.shrink)] if a.shrink is not None else []


def run_wall_seconds(run: Path) -> float:
    """Training wall time of a finished run: from its split record (split.json, written once when the run starts;
    a resumed run rewrites config.json) to its scores (metrics.json), pauses of a resumed run included."""
    return (run / "metrics.json").stat().st_mtime - (run / "split.json").stat().st_mtime


def copy_figure(src: Path, dst: Path) -> None:
    """Copy a PNG, scaled down to MAX_FIGURE_WIDTH pixels when wider."""
    from PIL import Image

    with Image.open(src) as im:
        if im.width > MAX_FIGURE_WIDTH:
            im = im.resize((MAX_FIGURE_WIDTH, round(im.height * MAX_FIGURE_WIDTH / im.width)), Image.LANCZOS)
        im.convert("RGB").quantize(colors=128).save(dst, optimize=True)  # a palette PNG: a fraction of the bytes


def stage_rows(report: dict) -> list:
    rows = []
    for s in report["stages"]:
        trend = " → ".join(f"{v:.2f}" for v in s["trend"])
        rows.append((s["label"], s["convs"], s["weights"], round(s["spread"], 3), f"{s['near_zero']:.0%}",
                     round(s["change"], 3), trend, "**yes**" if s["collapsed"] else "no"))
    return rows


def stage_reading(report: dict) -> str:
    """Do the later encoder stages (and the bottleneck) end narrower than the early ones? From the numbers."""
    spread = {s["group"]: s["spread"] for s in report["stages"]}
    early = [spread[g] for g in ("stage0", "stage1") if g in spread]
    late = [spread[g] for g in ("stage2", "stage3") if g in spread]
    neck = spread.get("stage4")
    collapsed = report["collapsed_stages"]
    parts = [f"Collapsed stages by the criterion: {', '.join(collapsed) if collapsed else 'none'}."]
    if early and late:
        e, l = sum(early) / len(early), sum(late) / len(late)
        parts.append(f"Final kernel spread (std / sigma0, feature convs) of encoder stages 0-1 {e:.2f} vs stages 2-3 "
                     f"{l:.2f}{f', bottleneck {neck:.2f}' if neck is not None else ''}: the later encoder stages "
                     + ("end narrower, the direction paper 002 saw" if l < e else "do not end narrower than the early ones")
                     + ".")
    return " ".join(parts)


def comparison_table(cmp: dict) -> str:
    text = (Path(cmp["original"]["run"]) / "apply" / "comparison.md").read_text()
    return "\n".join(line for line in text.splitlines() if line.startswith("|")) + "\n"


def main(argv=None) -> int:
    a = parse(argv)
    out = Path(a.output)
    out.mkdir(parents=True, exist_ok=True)
    Path(a.runs).mkdir(parents=True, exist_ok=True)
    log = Path(a.runs) / f"{NAME}.log"
    commands = []
    if a.run:
        run = Path(a.run)
        if not (run / "metrics.json").is_file():
            raise common.BenchmarkError(f"--run {run}: not a finished train.py run (no metrics.json)")
    else:
        run = Path(a.runs) / f"{a.model}_{Path(a.data).name}{a.image_size}"
        cmd = train_command(a, run.name)
        commands.append(cmd)
        step(cmd, log)
    train_seconds = run_wall_seconds(run)
    cmd = [sys.executable, "-m", "zoo.tools.histograms", str(run), *analysis_flags(a)]
    commands.append(cmd)
    step(cmd, log)
    report = json.loads((run / "analysis" / "report.json").read_text())
    for kind, name in FIGURES.items():
        if (run / "analysis" / f"{kind}.png").is_file():
            copy_figure(run / "analysis" / f"{kind}.png", out / f"{name}.png")
    epochs = ["--epochs", str(a.apply_epochs)] if a.apply_epochs else []
    cmd = [*cmd, "--apply", *epochs]
    commands.append(cmd)
    code, refused = step(cmd, log, ok=(0, 2))
    forced = None
    if code == 2 and a.forced_shrink:  # nothing collapsed: measure the paper's cut anyway, at a stated threshold
        forced = run / f"analysis_shrink{a.forced_shrink:g}"
        cmd = [sys.executable, "-m", "zoo.tools.histograms", str(run), "--shrink", f"{a.forced_shrink:g}",
               "--output", str(forced), "--no-tensorboard", "--apply", *epochs]
        commands.append(cmd)
        step(cmd, log)
        forced = json.loads((forced / "report.json").read_text())
    cmp = json.loads((run / "apply" / "comparison.json").read_text()) if code == 0 or forced else None
    return write(a, run, report, cmp, commands, train_seconds, argv, refused=refused, forced=forced)


def write(a, run: Path, report: dict, cmp: dict | None, commands: list, train_seconds: float, argv, *,
          refused: str = "", forced: dict | None = None) -> int:
    cfg = json.loads((run / "config.json").read_text())
    metrics = json.loads((run / "metrics.json").read_text())
    h, w = cfg["image_size"]
    shown = [shlex.join(["python", *c[1:]]) for c in commands]
    intro = (f"`{cfg['model']}` on `{common.display_path(cfg['data'])}` at {h}x{w}, {report['sources']['epochs'][-1]} "
             f"epochs (recipe `paper002_microplastics` settings: loss {cfg['loss']}, {cfg['optimizer']} {cfg['lr']:g} "
             f"{cfg['lr_schedule']}, batch {cfg['batch_size']}, augmentation {cfg['augment']}), seed {cfg['seed']}, "
             f"{metrics['train_images']} / {metrics['val_images']} / {metrics['images']} train / val / test images; "
             f"weight histograms every epoch. Training wall time {train_seconds / 60:.1f} min on the shared 2 cores "
             f"(nice 5, other trainings running). Test Dice {metrics['pooled_f1']:.4f}, r.w. F1 "
             f"{metrics['pooled_rw_f1']:.4f}.\n\nCommands (run folder `{run}`):\n\n"
             + "\n".join(f"    {c}" for c in shown)
             + "\n\nPer stage (feature convs; spread = std / sigma0, 1 = as initialised; near-zero = share within "
             f"+-{report['criterion']['band']:g} sigma0; change = Wasserstein-1 distance from the initial distribution):")
    table = common.markdown_table(("stage", "convs", "weights", "spread", "near-zero", "change",
                                   "spread by epoch", "collapsed"), stage_rows(report))
    table += (f"\nSuggestion: {report['suggestion']['text']}\n\n"
              f"![stages](results/{FIGURES['stages']}.png)\n\n![ridges](results/{FIGURES['ridges']}.png)\n")
    if refused:
        table += f"\n`--apply` with this analysis: nothing to train (`{refused}`).\n"
    if forced:
        table += (f"\n**Forced cut (not a collapse):** analysed again with `--shrink {a.forced_shrink:g}`, i.e. every "
                  f"kernel narrower than {a.forced_shrink:g} sigma0 counts as collapsed (default 0.5): collapsed stages "
                  f"{', '.join(forced['collapsed_stages']) or 'none'}; suggestion `{forced['suggestion']['model']}`. "
                  "This measures the cut paper 002 made, on this data and split; the default criterion did not ask for it.\n")
    if cmp:
        b = cmp["suggested"]
        table += (f"\n`--apply`: `{b['model']}` trained {b['epochs']} epochs on the recorded split in "
                  f"{cmp['train_seconds'] / 60:.1f} min (same split: {cmp['same_split']}); INT8 = LiteRT full integer "
                  f"on the test split at model size.\n\n" + comparison_table(cmp))
    reading = stage_reading(report) + (" Toy run: not a measurement." if a.toy else "")
    steps = report["sources"]["epochs"][-1] * math.ceil(metrics["train_images"] / cfg["batch_size"])
    spreads = [s["spread"] for s in report["stages"] if s["group"].startswith("stage")]
    reading += (f" After {steps} optimizer steps every stage's spread is within {min(spreads):.2f}-{max(spreads):.2f} "
                "sigma0 (paper 002: 150 epochs over about 4,450 training crops per fold).")
    if forced:
        reading += (" No collapse at this budget, so the comparison above is the cut paper 002 made, forced by a "
                    "threshold, not one the histograms asked for.")
    if cmp:
        d = cmp["change"]
        reading += (f" The suggested model has x{d['params_ratio']:.3f} the parameters, x{d['flops_ratio']:.3f} the "
                    f"FLOPs and x{d['int8_bytes_ratio']:.3f} the INT8 file; Dice {d['dice_points']:+.1f} points, r.w. F1 "
                    f"{d['rw_f1_points']:+.1f} points.")
    common.write_result(a.output, NAME, "Kernel histograms on a real run", argv, intro, table, reading)
    return 0


if __name__ == "__main__":
    sys.exit(common.run_main(main))
