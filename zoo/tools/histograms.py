"""Which stages learn: paper 002's kernel-weight histogram reading, measured (section 4.5, Figs. 11-14).

Paper 002 looked at TensorBoard kernel histograms by eye, saw the kernels of later encoder stages
narrow towards zero, and cut U-Net and MultiResUNet down to Half and Quarter. This makes it a command:

    python -m zoo.tools.histograms runs/<run>        # train.py runs it after training (--no-analyze: not)
    python -m zoo.tools.histograms runs/<run> --apply --epochs 10   # train the suggested smaller model, compare

It reads the run's TensorBoard event files (`tb/train`: one histogram per conv kernel per epoch, tagged
by stage, see `zoo.training.callbacks.histogram_tags`; read with the `tensorboard` package's event reader) and, when present, `last.keras` (exact final
weights). For every conv kernel, grouped by stage and MultiRes branch, it computes per epoch the
standard deviation, the fraction of weights near zero and the distance from the initial
distribution; ranks stages and branches; flags collapsed kernels by `Criterion`; and suggests the
smaller model the paper would derive. Output in `<run>/analysis/`: `report.md`, `report.json`,
`ridges.png`, `stages.png`, `trends.png`; the PNGs and the report also go to TensorBoard
(`<run>/tb/analysis`). With `--folds`, every fold is analysed and `analysis/report.md` sums up.
`--apply` then trains the suggested smaller model on the run's recorded config and split and compares the two
(`<run>/apply/`, see `zoo.tools.histogram_apply`).

Scale: a kernel is measured in units of sigma0, its standard deviation at initialisation, which
follows from its initializer and shape (He normal: sqrt(2 / fan_in)). So layers of any width
compare on one scale, and "change since initialisation" has a reference even though the initial
weights are not saved (sigma0 is the initializer's value; a drawn sample differs by about
1 / sqrt(2 n) for n weights). Without a checkpoint or config.json the first histogram (after
epoch 1) is the reference instead.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import re
import sys
from pathlib import Path

import numpy as np

import zoo  # noqa: F401  (first: selects Keras 2 before TensorFlow loads)
from zoo import quiet
from zoo.cli import OneLineParser, add_output_flag
from zoo.training.run import RunConfig
# The registry and zoo.training.callbacks load TensorFlow: functions import them where used, so that the command
# line answers --help and argument errors at once.

LEGACY_KERNEL_TAG = re.compile(r"^(?P<layer>.+)/kernel_0/histogram$")  # Keras' own histogram_freq tags
FEATURE_BRANCHES = {"m1", "m2", "m3", "conv1", "conv2", "conv1x1", "conv3x3", "conv"}  # all but the MRB shortcut
BRANCH_COLORS = {"m1": "#1f77b4", "m2": "#ff7f0e", "m3": "#2ca02c", "shortcut": "#7f7f7f", "conv1": "#1f77b4",
                 "conv2": "#ff7f0e", "conv1x1": "#9467bd", "conv3x3": "#8c564b", "conv": "#333333"}
_TRUNCATED_STD = 0.87962566103423978  # std of a unit normal truncated at +-2 (Keras' truncated_normal)
MAX_RIDGES = 10


@dataclasses.dataclass(frozen=True)
class Criterion:
    """When a kernel counts as collapsed, at its final weights, in units of its initial std sigma0.

    Flagged if its std < `shrink` x sigma0 (it narrowed to under that share of its initial width),
    or more than `near_zero` of its weights lie within +-`band` x sigma0 of zero (a He-normal
    initialisation puts 20 % there for band 0.25; this catches a spike at zero with a few large
    weights left, which the std alone misses). A stage is collapsed when at least `stage_share` of
    its feature convs are flagged (MultiRes blocks: m1, m2, m3; the 1x1 shortcut is the block's skip
    connection, which the paper found stays active, so it is ranked but not counted).
    """

    shrink: float = 0.5
    band: float = 0.25
    near_zero: float = 0.5
    stage_share: float = 0.5

    def reasons(self, spread: float, near_zero: float) -> list[str]:
        out = []
        if spread < self.shrink:
            out.append(f"std {spread:.2f} sigma0 < {self.shrink:g}")
        if near_zero > self.near_zero:
            out.append(f"{near_zero:.0%} within +-{self.band:g} sigma0 > {self.near_zero:.0%}")
        return out

    def describe(self) -> str:
        at_init = 2 * _unit_cdf("truncated_normal")(np.array([self.band]))[0] - 1
        return (f"A conv kernel is flagged **collapsed** when, at its final weights, either\n\n"
                f"1. its standard deviation is below **{self.shrink:g} sigma0** (it narrowed to under "
                f"{self.shrink:.0%} of its initial width), or\n"
                f"2. more than **{self.near_zero:.0%}** of its weights lie within **+-{self.band:g} sigma0** of zero "
                f"(a He-normal initialisation puts {at_init:.0%} there; this catches a spike at zero with a few "
                f"large weights left, which the std alone misses),\n\n"
                f"where sigma0 is the kernel's standard deviation at initialisation, from its initializer and "
                f"fan-in (He normal: sqrt(2 / fan_in)), so layers of any width compare on one scale. "
                f"A stage is **collapsed** when at least {self.stage_share:.0%} of its feature convs are flagged "
                f"(MultiRes blocks: m1, m2, m3; the 1x1 shortcut is the block's skip connection, which paper 002 "
                f"found stays active, so it is ranked but not counted). Thresholds: `--shrink`, `--near-zero`, "
                f"`--band`, `--stage-share`.")


@dataclasses.dataclass
class Stats:
    """One kernel at one epoch. `std` and `mean` in weight units; `near_zero` a fraction; `change` in sigma0."""

    std: float
    mean: float
    near_zero: float
    change: float  # Wasserstein-1 distance from the initial distribution, in sigma0


@dataclasses.dataclass
class Kernel:
    name: str
    group: str  # "stem", "stage3", "respath1", "head", or the layer name
    branch: str  # m1, m2, m3, shortcut (MultiRes), conv1, conv2 (U-Net), conv1x1, conv3x3 (Res path), conv
    weights: int
    sigma0: float
    init: str  # initial distribution: truncated_normal, normal, uniform, or "epoch 1 histogram"
    steps: list[int]
    epochs: list[Stats]  # from the histograms (bin-centre approximations)
    final: Stats
    final_source: str  # "last.keras" (exact) or "histogram"
    densities: list[tuple[str, np.ndarray, np.ndarray]]  # (label, edges in sigma0, counts) for the ridges
    reasons: list[str] = dataclasses.field(default_factory=list)

    @property
    def spread(self) -> float:
        return self.final.std / self.sigma0

    @property
    def flagged(self) -> bool:
        return bool(self.reasons)


# ----------------------------------------------------------------------------------------- reading

def stage_plan(model: str):
    """The `Stages` of a registered model's entry, or None (unknown model, or no stage plan)."""
    from zoo.training.callbacks import stage_plans

    return stage_plans().get(model)


def group_label(group: str) -> str:
    if m := re.fullmatch(r"stage(\d)", group):
        i = int(m[1])
        return f"stage {i} ({'encoder' if i < 4 else 'bottleneck' if i == 4 else 'decoder'})"
    if m := re.fullmatch(r"respath(\d+)", group):
        return f"Res path {m[1]}"
    return group


def read_kernel_histograms(log_dir: Path) -> dict[str, list[tuple[int, np.ndarray]]]:
    """{layer: [(step, (bins, 3) array of left, right, count)]} for every conv kernel histogram: the stage-grouped
    tags `train.py` writes (`03_stage1/mrb_m2`, layer and weight in the description) and Keras' own
    `<layer>/kernel_0/histogram` tags of older runs."""
    from zoo.training.callbacks import parse_histogram_description
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util import tensor_util

    if not Path(log_dir).is_dir():
        return {}
    acc = EventAccumulator(str(log_dir), size_guidance={"tensors": 0})
    acc.Reload()
    out = {}
    for tag in acc.Tags().get("tensors", []):
        placed = parse_histogram_description(acc.SummaryMetadata(tag).summary_description)
        layer = placed[0] if placed and placed[1] == "kernel" else None
        if layer is None and (m := LEGACY_KERNEL_TAG.match(tag)):
            layer = m["layer"]
        if layer is not None:
            by_step = {e.step: tensor_util.make_ndarray(e.tensor_proto).astype(np.float64) for e in acc.Tensors(tag)}
            out[layer] = sorted(by_step.items())
    return out


def initial_distribution(layer) -> tuple[float, str] | None:
    """(sigma0, distribution) of a conv kernel's initializer, or None when it is not a known kind."""
    import tf_keras as keras

    init, shape = layer.kernel_initializer, tuple(layer.kernel.shape)
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    fan_in, fan_out = receptive * shape[-2], receptive * shape[-1]
    if isinstance(init, keras.initializers.VarianceScaling):
        n = {"fan_in": fan_in, "fan_out": fan_out}.get(init.mode, (fan_in + fan_out) / 2)
        kind = {"untruncated_normal": "normal"}.get(init.distribution, init.distribution)
        return math.sqrt(init.scale / max(1.0, n)), kind
    if isinstance(init, keras.initializers.TruncatedNormal):
        return init.stddev * _TRUNCATED_STD, "truncated_normal"
    if isinstance(init, keras.initializers.RandomNormal):
        return init.stddev, "normal"
    if isinstance(init, keras.initializers.RandomUniform):
        return (init.maxval - init.minval) / math.sqrt(12), "uniform"
    return None


def run_config(run_dir: Path) -> RunConfig | None:
    """The recorded config of a run folder or of the run a fold folder belongs to (None without config.json;
    a broken one is a one-line `RunError`)."""
    path = next((p / "config.json" for p in (run_dir, run_dir.parent) if (p / "config.json").is_file()), None)
    return RunConfig.from_json(path) if path else None


def load_model_for(run_dir: Path, config: RunConfig | None, use_checkpoint: bool):
    """(model, source): `last.keras` (final weights) if wanted and present, else the model rebuilt from the
    run's config (shapes and initializers only), else (None, None)."""
    from zoo.files import load_model

    if use_checkpoint and (run_dir / "last.keras").is_file():
        return load_model(run_dir / "last.keras", compile=False), "last.keras"
    if config is None:
        return None, None
    return config.build_model(pretrained=False), None


# ------------------------------------------------------------------------------------- statistics

def _unit_cdf(kind: str):
    """CDF, in sigma0 units, of an initial distribution with unit std."""
    erf = np.vectorize(math.erf, otypes=[float])
    phi = lambda z: 0.5 * (1 + erf(np.asarray(z, float) / math.sqrt(2)))  # noqa: E731
    if kind == "truncated_normal":
        raw, low = 1 / _TRUNCATED_STD, float(phi(-2.0))
        return lambda x: (phi(np.clip(np.asarray(x) / raw, -2, 2)) - low) / (1 - 2 * low)
    if kind == "uniform":
        a = math.sqrt(3)
        return lambda x: np.clip((np.asarray(x) + a) / (2 * a), 0, 1)
    return phi


def _hist_edges(hist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Contiguous edges and counts of a TensorBoard histogram (equal-width bins from min to max)."""
    edges = np.append(hist[:, 0], hist[-1, 1])
    edges = np.maximum.accumulate(edges) + np.arange(len(edges)) * 1e-12  # strictly increasing
    return edges, hist[:, 2]


def hist_cdf(hist: np.ndarray, x: np.ndarray) -> np.ndarray:
    """CDF of a histogram at x, weights spread uniformly within each bin."""
    edges, counts = _hist_edges(hist)
    cum = np.append(0.0, np.cumsum(counts)) / max(counts.sum(), 1e-12)
    return np.interp(x, edges, cum, left=0.0, right=1.0)


def hist_stats(hist: np.ndarray, band: float) -> tuple[float, float, float]:
    """(mean, std, fraction within +-band) of a histogram, each bin a uniform distribution: an
    approximation (histograms keep only binned counts); the std includes each bin's width^2 / 12."""
    edges, counts = _hist_edges(hist)
    n = max(counts.sum(), 1e-12)
    centres, widths = (edges[1:] + edges[:-1]) / 2, np.diff(edges)
    mean = float((counts * centres).sum() / n)
    var = float((counts * ((centres - mean) ** 2 + widths ** 2 / 12)).sum() / n)
    near = float(hist_cdf(hist, np.array([band]))[0] - hist_cdf(hist, np.array([-band]))[0])
    return mean, math.sqrt(max(var, 0.0)), near


def _w1(cdf_a: np.ndarray, cdf_b: np.ndarray, x: np.ndarray) -> float:
    return float(np.trapezoid(np.abs(cdf_a - cdf_b), x))


def _grid(lo: float, hi: float) -> np.ndarray:
    return np.linspace(min(lo, -3.0), max(hi, 3.0), 4001)


def kernel_from(name: str, hists: list[tuple[int, np.ndarray]], weights: np.ndarray | None,
                init: tuple[float, str] | None, criterion: Criterion) -> Kernel:
    """Statistics of one kernel over the recorded epochs, plus its final state (exact when `weights`)."""
    from zoo.training.callbacks import layer_place

    group, branch = layer_place(name)
    if init is None:  # no initializer known: the first recorded histogram is the reference
        if not hists:
            raise ValueError(f"{name}: neither histograms nor an initializer to measure against")
        _, first = hists[0]
        sigma0, kind = hist_stats(first, 0.0)[1], "epoch 1 histogram"
        ref_cdf = lambda x: hist_cdf(first, x * sigma0)  # noqa: E731
    else:
        sigma0, kind = init
        ref_cdf = _unit_cdf(kind)
    band = criterion.band * sigma0
    steps, epochs, densities = [], [], []
    for step, h in hists:
        edges, counts = _hist_edges(h)
        mean, std, near = hist_stats(h, band)
        x = _grid(edges[0] / sigma0, edges[-1] / sigma0)
        epochs.append(Stats(std, mean, near, _w1(hist_cdf(h, x * sigma0), ref_cdf(x), x)))
        steps.append(int(step))
        densities.append((f"epoch {step + 1}", edges / sigma0, counts))
    if weights is not None:
        w = np.sort(weights.ravel().astype(np.float64))
        x = _grid(w[0] / sigma0, w[-1] / sigma0)
        emp = np.searchsorted(w, x * sigma0, side="right") / w.size
        final = Stats(float(w.std()), float(w.mean()), float(np.mean(np.abs(w) < band)), _w1(emp, ref_cdf(x), x))
        source, n = "last.keras", int(w.size)
        if not hists:
            counts, edges = np.histogram(w / sigma0, bins=60)
            densities.append(("final", edges, counts.astype(np.float64)))
    else:
        final, source, n = epochs[-1], "histogram", int(hists[-1][1][:, 2].sum())
    k = Kernel(name, group, branch, n, sigma0, kind, steps, epochs, final, source, densities)
    k.reasons = criterion.reasons(k.spread, final.near_zero)
    return k


def aggregate(kernels: list[Kernel], index: int | None = None) -> dict:
    """Weight-count-weighted spread, near-zero share and change of some kernels (final, or epoch `index`)."""
    pick = (lambda k: k.final) if index is None else (lambda k: k.epochs[index])
    n = np.array([k.weights for k in kernels], float)
    avg = lambda f: float((n * np.array([f(k) for k in kernels])).sum() / n.sum())  # noqa: E731
    return {"weights": int(n.sum()), "spread": avg(lambda k: pick(k).std / k.sigma0),
            "near_zero": avg(lambda k: pick(k).near_zero), "change": avg(lambda k: pick(k).change),
            "flagged": [k.name for k in kernels if k.flagged], "convs": len(kernels)}


# --------------------------------------------------------------------------------------- analysis

@dataclasses.dataclass
class Analysis:
    run_dir: Path
    model: str
    kernels: list[Kernel]
    criterion: Criterion
    stages: list[dict]
    branches: list[dict]
    collapsed_stages: list[str]
    suggestion: dict
    sources: dict
    check: dict | None

    @property
    def flagged(self) -> list[str]:
        return [k.name for k in self.kernels if k.flagged]


def infer_model(names: list[str]) -> str:
    """The registered model whose stage plan the conv layer names show (its stage numbers, by its rules), or
    "unknown"."""
    from zoo.training.callbacks import stage_plans

    for model, plan in stage_plans().items():
        groups = {place[0] for n in names if (place := plan.place(n))}
        if {int(g[5:]) for g in groups if re.fullmatch(r"stage\d+", g)} == set(plan.numbers):
            return model
    return "unknown"


def suggest(model: str, collapsed: set[int]) -> dict:
    """The smaller architecture paper 002 would derive from the collapsed stage numbers (the model entry's `stages`)."""
    from zoo.models.registry import get_model_entry

    plan = stage_plan(model)
    if plan is None:
        return {"model": None, "text": f"`{model}` is not one of paper 002's models with a stage plan (`stages` of "
                                       "its registry entry); no reduction rule applies."}
    hit = sorted(collapsed & set(plan.drops))
    bottleneck = plan.bottleneck in collapsed
    if hit and plan.smaller:
        kept = get_model_entry(plan.smaller).stages.numbers
        text = (f"**`{plan.smaller}`**: collapsed {plan.unit} at stage(s) {', '.join(map(str, hit))}, which "
                f"`{plan.smaller}` drops (it keeps stages {', '.join(map(str, kept))}, the bottleneck "
                f"{plan.bottleneck} with fewer channels). Paper 002 made this cut because {plan.reason}. Try "
                f"`python train.py --model {plan.smaller}` on the same data and compare the recall-weighted scores.")
        if bottleneck:
            text += (f" The bottleneck (stage {plan.bottleneck}) collapsed too; the smaller model's narrower "
                     "bottleneck answers that.")
        return {"model": plan.smaller, "text": text}
    if hit:  # no smaller model in the zoo
        return {"model": None, "text": f"Stage(s) {', '.join(map(str, hit))} collapsed. {plan.reason}"}
    if bottleneck:
        return {"model": model, "text": f"Keep `{model}` but narrow its bottleneck (stage {plan.bottleneck} "
                "collapsed): pass a smaller last value in `--model-arg filters=(...)`."}
    if not plan.drops:
        return {"model": model, "text": f"Keep `{model}`: {plan.reason}."}
    return {"model": model, "text": f"Keep `{model}`: none of the {plan.unit} that the next smaller model drops "
            f"({', '.join(map(str, plan.drops))}) collapsed. Paper 002 cuts only where kernels centre at zero; "
            "where they stay spread it kept the model's stages."}


def analyze(run_dir, criterion: Criterion = Criterion(), *, use_checkpoint: bool = True) -> Analysis:
    """Analyse one run folder (one fold): histograms from `tb/train`, final weights from `last.keras`, the
    model from the run's record (config.json) when there is one."""
    from zoo.training.callbacks import group_order

    run_dir = Path(run_dir)
    config = run_config(run_dir)
    hists = read_kernel_histograms(run_dir / "tb" / "train")
    model, weight_source = load_model_for(run_dir, config, use_checkpoint)
    convs = {}
    if model is not None:
        import tf_keras as keras

        convs = {l.name: l for l in model.layers if isinstance(l, keras.layers.Conv2D)}
    names = list(convs) or [n for n in hists if n.endswith("_conv")] or list(hists)
    names = [n for n in names if n in hists or weight_source]
    if not names:
        raise FileNotFoundError(f"{run_dir}: no kernel histograms in tb/train and no last.keras to analyse")
    kernels = []
    for name in names:
        layer = convs.get(name)
        weights = layer.kernel.numpy() if layer is not None and weight_source else None
        kernels.append(kernel_from(name, hists.get(name, []), weights,
                                   initial_distribution(layer) if layer is not None else None, criterion))
    kernels.sort(key=lambda k: group_order(k.group))  # stable: keeps layer order within a group

    model_name = config.model if config else infer_model(names)
    stages, collapsed = [], []
    for group in sorted({k.group for k in kernels}, key=group_order):
        members = [k for k in kernels if k.group == group]
        feature = [k for k in members if k.branch in FEATURE_BRANCHES] or members
        row = {"group": group, "label": group_label(group), **aggregate(feature)}
        row["collapsed"] = len(row["flagged"]) >= criterion.stage_share * len(feature) and bool(row["flagged"])
        row["trend"] = [aggregate(feature, i)["spread"] for i in range(min(len(k.epochs) for k in feature))]
        stages.append(row)
        if row["collapsed"]:
            collapsed.append(group)
    branches = []
    for group, branch in sorted({(k.group, k.branch) for k in kernels}, key=lambda gb: (group_order(gb[0]), gb[1])):
        members = [k for k in kernels if (k.group, k.branch) == (group, branch)]
        branches.append({"group": group, "branch": branch, "label": group_label(group), **aggregate(members)})
    stage_numbers = {int(g[5:]) for g in collapsed if re.fullmatch(r"stage\d", g)}

    check = None
    exact = [k for k in kernels if k.final_source == "last.keras" and k.epochs
             and k.steps[-1] + 1 == _epochs_trained(run_dir, config)]
    if exact:
        errors = np.array([abs(k.epochs[-1].std / k.final.std - 1) for k in exact if k.final.std > 0])
        nz = np.array([abs(k.epochs[-1].near_zero - k.final.near_zero) for k in exact])
        check = {"kernels": len(exact), "std_rel_error_median": float(np.median(errors)),
                 "std_rel_error_max": float(errors.max()), "near_zero_abs_error_max": float(nz.max())}
    sources = {"histograms": str(run_dir / "tb" / "train") if hists else None,
               "epochs": sorted({s + 1 for k in kernels for s in k.steps}),
               "final": weight_source or "last histogram",
               "reference": "epoch 1 histogram" if any(k.init == "epoch 1 histogram" for k in kernels) else "initializer"}
    return Analysis(run_dir, model_name, kernels, criterion, stages, branches, collapsed,
                    suggest(model_name, stage_numbers), sources, check)


def _epochs_trained(run_dir: Path, config: RunConfig | None) -> int | None:
    history = run_dir / "history.csv"
    if history.is_file():
        return max(0, len(history.read_text().strip().splitlines()) - 1)
    return config.epochs if config else None


# ---------------------------------------------------------------------------------------- figures

def _figure(width: float, height: float):
    """A matplotlib figure on the Agg canvas (no pyplot, no global backend change)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _density(edges: np.ndarray, counts: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Weights per unit (sigma0) at x, linear between bin centres: counts / width."""
    centres, widths = (edges[1:] + edges[:-1]) / 2, np.maximum(np.diff(edges), 1e-12)
    if len(centres) == 1:
        return np.where(np.abs(x - centres[0]) <= widths[0] / 2, counts[0] / widths[0], 0.0)
    return np.interp(x, centres, counts / widths, left=0.0, right=0.0)


def _log_axis(ax, values, threshold: float) -> None:
    """Log y axis with plain tick labels, spanning the values, the threshold and 1 (initialisation)."""
    from matplotlib.ticker import FixedLocator, NullLocator

    finite = [v for v in values if v > 0] or [1.0]
    lo, hi = min(min(finite), threshold, 1.0) / 1.4, max(max(finite), 1.0) * 1.4
    ax.set_yscale("log")
    ax.set_ylim(lo, hi)
    ticks = [t for t in (0.001, 0.003, 0.01, 0.03, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32) if lo <= t <= hi]
    ax.yaxis.set_major_locator(FixedLocator(ticks))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.set_yticklabels([f"{t:g}" for t in ticks])


def plot_ridges(a: Analysis, path: Path) -> Path:
    """One panel per stage: the kernel distribution of each branch, epoch by epoch (bottom: initialisation)."""
    groups = [s["group"] for s in a.stages]
    cols = min(4, len(groups))
    rows = -(-len(groups) // cols)
    fig = _figure(3.6 * cols, 3.4 * rows)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    collapsed = set(a.collapsed_stages)
    for ax, group in zip(axes, groups):
        members = [k for k in a.kernels if k.group == group]
        n_ridges = min(len(k.densities) for k in members)
        picks = sorted(set(np.linspace(0, n_ridges - 1, min(n_ridges, MAX_RIDGES)).round().astype(int)))
        reach = max(max(e.std for e in k.epochs + [k.final]) / k.sigma0 for k in members)
        half = float(np.clip(math.ceil(3.5 * reach), 3, 12))
        centres = np.linspace(-half, half, 321)
        labels = ["init"] + [members[0].densities[i][0].replace("epoch ", "ep ") for i in picks]
        init_kinds = {k.init for k in members}
        for branch in sorted({k.branch for k in members}, key=list(BRANCH_COLORS).index):
            parts = [k for k in members if k.branch == branch]
            color = BRANCH_COLORS[branch]
            rows_ = []
            if init_kinds <= {"truncated_normal", "normal", "uniform"}:
                step = centres[1] - centres[0]
                cdfs = [(k.weights, _unit_cdf(k.init)) for k in parts]
                rows_.append(sum(n * (cdf(centres + step / 2) - cdf(centres - step / 2)) / step for n, cdf in cdfs))
            else:
                rows_.append(None)
            for i in picks:
                rows_.append(sum(_density(k.densities[i][1], k.densities[i][2], centres) for k in parts))
            for level, counts in enumerate(rows_):
                if counts is None or counts.max() <= 0:
                    continue
                y = 0.9 * counts / counts.max()
                ax.fill_between(centres, level, level + y, color=color, alpha=0.18, lw=0)
                ax.plot(centres, level + y, color=color, lw=1,
                        label=branch if level == len(rows_) - 1 else None)
        ax.axvline(-a.criterion.band, color="k", lw=0.6, ls=":")
        ax.axvline(a.criterion.band, color="k", lw=0.6, ls=":")
        ax.set_yticks(range(len(labels)), labels, fontsize=7)
        ax.set_ylim(-0.1, len(labels) + 0.45)
        ax.set_xlim(-half, half)
        ax.set_xlabel("weight / sigma0", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
        bad = group in collapsed
        ax.set_title(group_label(group) + ("  COLLAPSED" if bad else ""), fontsize=9,
                     color="#c0392b" if bad else "k", fontweight="bold" if bad else "normal")
        ax.legend(fontsize=7, loc="upper right", frameon=False, ncol=4, handlelength=1, columnspacing=0.8)
    for ax in axes[len(groups):]:
        ax.set_visible(False)
    fig.suptitle(f"{a.model}: conv kernel distributions per stage over epochs "
                 f"(each curve scaled to equal height; dotted: +-{a.criterion.band:g} sigma0 band)", fontsize=10)
    fig.savefig(path)
    return path


def plot_stages(a: Analysis, path: Path) -> Path:
    """Bars per stage and branch: final spread (std / sigma0) and near-zero share, with the thresholds."""
    groups = [s["group"] for s in a.stages]
    fig = _figure(max(8.0, 0.8 * len(groups) + 3), 6.6)
    top, bottom = fig.subplots(2, 1, sharex=True)
    seen = {}
    for i, group in enumerate(groups):
        rows = [b for b in a.branches if b["group"] == group]
        rows.sort(key=lambda b: list(BRANCH_COLORS).index(b["branch"]))
        width = min(0.2, 0.8 / len(rows))
        for j, row in enumerate(rows):
            x = i + width * (j - (len(rows) - 1) / 2)
            bad = bool(row["flagged"])
            style = dict(color=BRANCH_COLORS[row["branch"]], edgecolor="#c0392b" if bad else "none",
                         hatch="///" if bad else None, lw=1.2)
            seen[row["branch"]] = top.bar(x, row["spread"], width, **style)
            bottom.bar(x, row["near_zero"], width, **style)
        if group in a.collapsed_stages:
            for ax in (top, bottom):
                ax.axvspan(i - 0.5, i + 0.5, color="#c0392b", alpha=0.08, lw=0)
    top.axhline(a.criterion.shrink, color="#c0392b", ls="--", lw=1)
    top.axhline(1.0, color="k", ls=":", lw=0.8)
    _log_axis(top, [b["spread"] for b in a.branches], a.criterion.shrink)
    top.set_ylabel("final std / sigma0 (log)")
    top.set_title(f"{a.model}: how far each stage's kernels spread at the end. Dashed red: collapse thresholds; "
                  f"dotted: initialisation; hatched: holds a flagged kernel", fontsize=9)
    fig.legend(seen.values(), seen.keys(), fontsize=8, ncol=len(seen), loc="outside lower center", frameon=False)
    bottom.axhline(a.criterion.near_zero, color="#c0392b", ls="--", lw=1)
    bottom.set_ylim(0, 1)
    bottom.set_ylabel(f"share within +-{a.criterion.band:g} sigma0")
    bottom.set_xticks(range(len(groups)), [group_label(g).replace(" (", "\n(") for g in groups], fontsize=8)
    bottom.set_xlim(-0.5, len(groups) - 0.5)
    fig.savefig(path)
    return path


def plot_trends(a: Analysis, path: Path) -> Path:
    """Spread of each stage's feature convs over the recorded epochs."""
    import matplotlib as mpl

    fig = _figure(8, 4.2)
    ax = fig.subplots()
    cmap = mpl.colormaps["viridis"]
    stages = [s for s in a.stages if s["trend"]]
    epochs = a.sources["epochs"]
    start = [0] if a.sources["reference"] == "initializer" else []  # epoch 0: initialisation, spread 1
    for i, s in enumerate(stages):
        color = "#c0392b" if s["collapsed"] else cmap(i / max(1, len(stages) - 1))
        ax.plot(start + epochs[:len(s["trend"])], [1.0] * len(start) + s["trend"], marker="o", ms=3, color=color,
                label=s["label"] + (" COLLAPSED" if s["collapsed"] else ""), lw=2 if s["collapsed"] else 1.2)
    ax.axhline(a.criterion.shrink, color="#c0392b", ls="--", lw=1)
    ax.axhline(1.0, color="k", ls=":", lw=0.8)
    _log_axis(ax, [v for s in stages for v in s["trend"]], a.criterion.shrink)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("epoch (0 = initialisation)" if start else "epoch")
    ax.set_ylabel("std / sigma0 (feature convs, from histograms)")
    fig.suptitle(f"{a.model}: kernel spread per stage over epochs (dashed: collapse threshold)", fontsize=10)
    ax.legend(fontsize=7, ncol=2, frameon=False, loc="center left", bbox_to_anchor=(1, 0.5))
    fig.savefig(path)
    return path


# ----------------------------------------------------------------------------------------- report

def _f(v: float) -> str:
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"


def report_markdown(a: Analysis, pngs: dict[str, Path]) -> str:
    c = a.criterion
    s = a.sources
    epochs = s["epochs"]
    lines = [f"# Which stages learn: kernel-weight histograms of `{a.run_dir.name}`", "",
             f"Model `{a.model}`, {len(a.kernels)} conv kernels. Per-epoch statistics from the TensorBoard "
             f"histograms in `tb/train` ({f'epochs {epochs[0]}-{epochs[-1]}' if epochs else 'none recorded'}); "
             f"final statistics from **{s['final']}**"
             f"{' (exact)' if s['final'] == 'last.keras' else ' (approximate, see below)'}.", "",
             "## Verdict", ""]
    flagged = [k for k in a.kernels if k.flagged]
    lines.append(f"- **Collapsed kernels ({len(flagged)})**: "
                 + (", ".join(f"`{k.name}` ({'; '.join(k.reasons)})" for k in flagged) if flagged else "none"))
    lines.append("- **Collapsed stages**: " + (", ".join(group_label(g) for g in a.collapsed_stages) or "none"))
    lines.append(f"- **Suggestion**: {a.suggestion['text']}")
    lines += ["", "## Criterion", "", c.describe(), "",
              "## Stages, most learning first", "",
              "Spread = final std / sigma0 (1 = as initialised, below 1 = narrower, towards zero); near-zero = share of "
              f"weights within +-{c.band:g} sigma0; change = Wasserstein-1 distance of the final weight distribution "
              "from the initial one, in sigma0. Feature convs only (not the MultiRes shortcut), weighted by weight count.",
              "", "| rank | stage | convs | weights | spread | near-zero | change | spread by epoch | flagged |",
              "|---:|---|---:|---:|---:|---:|---:|---|---|"]
    for rank, row in enumerate(sorted(a.stages, key=lambda r: -r["spread"]), 1):
        trend = " → ".join(f"{v:.2f}" for v in _thin(row["trend"]))
        mark = f"**collapsed**: {len(row['flagged'])}/{row['convs']}" if row["collapsed"] else \
            (f"{len(row['flagged'])}/{row['convs']}" if row["flagged"] else "")
        lines.append(f"| {rank} | {row['label']} | {row['convs']} | {row['weights']} | {row['spread']:.3f} | "
                     f"{row['near_zero']:.0%} | {row['change']:.3f} | {trend} | {mark} |")
    lines += ["", "## Branches (MultiRes m1, m2, m3, shortcut; U-Net conv1, conv2; Res path convs), most learning first",
              "", "| rank | stage | branch | convs | spread | near-zero | change | flagged |",
              "|---:|---|---|---:|---:|---:|---:|---|"]
    for rank, row in enumerate(sorted(a.branches, key=lambda r: -r["spread"]), 1):
        lines.append(f"| {rank} | {row['label']} | {row['branch']} | {row['convs']} | {row['spread']:.3f} | "
                     f"{row['near_zero']:.0%} | {row['change']:.3f} | {'**yes**' if row['flagged'] else ''} |")
    lines += ["", "## Every kernel", "",
              "| layer | stage | branch | weights | sigma0 | std first epoch | std final | spread | near-zero | change | "
              "collapsed |", "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for k in a.kernels:
        first = _f(k.epochs[0].std) if k.epochs else "-"
        lines.append(f"| `{k.name}` | {group_label(k.group)} | {k.branch} | {k.weights} | {_f(k.sigma0)} | {first} | "
                     f"{_f(k.final.std)} | {k.spread:.3f} | {k.final.near_zero:.0%} | {k.final.change:.3f} | "
                     f"{'**' + '; '.join(k.reasons) + '**' if k.flagged else ''} |")
    lines += ["", "## Figures", ""]
    captions = {"stages": "Final spread and near-zero share per stage and branch, weighted by weight count (log "
                          "scale; hatched red = holds a flagged kernel).",
                "ridges": "Kernel distributions per stage, bottom row at initialisation, then epoch by epoch.",
                "trends": "Spread of each stage's feature convs over the epochs."}
    for name, p in pngs.items():
        lines += [f"![{name}]({p.name})", "", captions.get(name, ""), ""]
    lines += ["## How the numbers are computed", "",
              "- **Histograms are approximations.** TensorBoard keeps only 30 equal-width bins per kernel and epoch, so "
              "per-epoch std, near-zero share and change treat each bin as uniformly filled (std includes width^2/12). "
              + ("The final column comes from the exact weights in `last.keras`."
                 if s["final"] == "last.keras" else "No checkpoint was read, so the final column is the last histogram."),
              ]
    if a.check:
        lines.append(f"- Check at the last epoch ({a.check['kernels']} kernels): histogram std vs exact std differs by "
                     f"{a.check['std_rel_error_median']:.1%} (median), {a.check['std_rel_error_max']:.1%} (max); "
                     f"near-zero share by at most {a.check['near_zero_abs_error_max']:.1%} points.")
    if s["reference"] == "initializer":
        lines.append("- **Change since initialisation.** Initial weights are not saved. sigma0 and the initial "
                     "distribution come from each kernel's initializer and shape (He normal, truncated at 2 raw std: "
                     "sigma0 = sqrt(2 / fan_in); the head's Glorot uniform: sqrt(2 / (fan_in + fan_out))). A drawn "
                     "sample's std differs from sigma0 by about 1/sqrt(2n) for n weights. Histograms say nothing about "
                     "individual weights, so change is between distributions, not a per-weight distance.")
    else:
        lines.append("- **Change since initialisation.** Neither a checkpoint nor config.json was available, so the "
                     "reference is the first recorded histogram, i.e. **after epoch 1**, not the initialisation: "
                     "collapse during epoch 1 is invisible.")
    lines.append("- **Caveat.** With BatchNorm after every conv (this zoo's default), a kernel's scale does not change "
                 "the layer's output, so a shrinking kernel is a sign of disuse, not a proof; paper 002 itself notes "
                 "\"if the weight does not completely converge to 0, it is difficult to determine whether the layer "
                 "contributes\". Confirm a suggested cut by training the smaller model.")
    lines.append("- Stage numbers are the full model's (0-3 encoder, 4 bottleneck, 5-8 decoder). The paper's figures "
                 "number MultiRes blocks from 1, so its \"blocks 3 and 4\" of MultiResUNet are stages 2 and 3 here.")
    return "\n".join(lines) + "\n"


def _thin(values: list[float], most: int = 6) -> list[float]:
    if len(values) <= most:
        return values
    return [values[int(i)] for i in np.linspace(0, len(values) - 1, most).round()]


def report_json(a: Analysis) -> dict:
    return {
        "run": str(a.run_dir), "model": a.model, "criterion": dataclasses.asdict(a.criterion), "sources": a.sources,
        "flagged": a.flagged, "collapsed_stages": a.collapsed_stages, "suggestion": a.suggestion,
        "stages": a.stages, "branches": a.branches, "histogram_check": a.check,
        "kernels": [{"name": k.name, "group": k.group, "branch": k.branch, "weights": k.weights, "sigma0": k.sigma0,
                     "init": k.init, "epochs": [s + 1 for s in k.steps],
                     "std": [e.std for e in k.epochs], "near_zero": [e.near_zero for e in k.epochs],
                     "change": [e.change for e in k.epochs], "final": dataclasses.asdict(k.final),
                     "final_source": k.final_source, "spread": k.spread, "collapsed": k.flagged,
                     "reasons": k.reasons} for k in a.kernels],
    }


def write_tensorboard(log_dir: Path, pngs: dict[str, Path], markdown: str, step: int) -> None:
    """The figures as image summaries and the report as a text summary, replacing earlier analyses."""
    import tensorflow as tf

    log_dir.mkdir(parents=True, exist_ok=True)
    for old in log_dir.glob("events.out.tfevents.*"):
        old.unlink()
    writer = tf.summary.create_file_writer(str(log_dir))
    with writer.as_default():
        for name, path in pngs.items():
            image = tf.io.decode_png(tf.io.read_file(str(path)), channels=3)[None]
            tf.summary.image(f"kernel_analysis/{name}", image, step=step)
        tf.summary.text("kernel_analysis/report", markdown, step=step)
    writer.close()


def write_outputs(a: Analysis, out_dir: Path, tensorboard: bool = True) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    pngs = {"stages": plot_stages(a, out_dir / "stages.png"), "ridges": plot_ridges(a, out_dir / "ridges.png")}
    if any(s["trend"] for s in a.stages):
        pngs["trends"] = plot_trends(a, out_dir / "trends.png")
    markdown = report_markdown(a, pngs)
    (out_dir / "report.md").write_text(markdown)
    (out_dir / "report.json").write_text(json.dumps(report_json(a), indent=2))
    if tensorboard:
        write_tensorboard(a.run_dir / "tb" / "analysis", pngs, markdown, step=max(a.sources["epochs"] or [1]) - 1)
    return out_dir / "report.md"


def fold_dirs(run_dir: Path) -> list[Path]:
    """The `fold{k}` folders of a `--folds` run, in fold order (empty for a single run)."""
    if (run_dir / "tb").is_dir() or (run_dir / "last.keras").is_file():
        return []
    folds = [p for p in run_dir.glob("fold*") if p.is_dir() and re.fullmatch(r"fold\d+", p.name)]
    return sorted(folds, key=lambda p: int(p.name[4:]))


def analyze_run(run_dir, criterion: Criterion = Criterion(), *, use_checkpoint: bool = True,
                tensorboard: bool = True, output=None) -> Path:
    """Analyse a run folder (every fold of a `--folds` run) and write the report into `output` (default
    `<run>/analysis`; folds in `<output>/<fold>`); returns report.md's path."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: run folder not found")
    out = Path(output) if output else run_dir / "analysis"
    folds = fold_dirs(run_dir)
    if not folds:
        return write_outputs(analyze(run_dir, criterion, use_checkpoint=use_checkpoint), out, tensorboard)
    results, reports = [], []
    for fold in folds:
        a = analyze(fold, criterion, use_checkpoint=use_checkpoint)
        reports.append(write_outputs(a, out / fold.name if output else fold / "analysis", tensorboard))
        results.append(a)
    return write_fold_summary(run_dir, results, criterion, out, reports)


def write_fold_summary(run_dir: Path, results: list[Analysis], criterion: Criterion, out: Path,
                       reports: list[Path]) -> Path:
    """A `--folds` run: which kernels and stages collapse in how many folds; the suggestion from the majority."""
    n = len(results)
    majority = lambda count: count * 2 >= n  # noqa: E731  (at least half of the folds)
    stage_counts = {g: sum(g in a.collapsed_stages for a in results) for g in [s["group"] for s in results[0].stages]}
    kernel_counts = {k.name: sum(k.name in a.flagged for a in results) for k in results[0].kernels}
    stages = sorted(g for g, c in stage_counts.items() if c and majority(c))
    numbers = {int(g[5:]) for g in stages if re.fullmatch(r"stage\d", g)}
    suggestion = suggest(results[0].model, numbers)
    out.mkdir(parents=True, exist_ok=True)
    lines = [f"# Which stages learn: `{run_dir.name}`, {n} folds", "",
             f"Model `{results[0].model}`. Each fold has its own report and figures; a kernel or stage counts here "
             "when it collapses in at least half of the folds.", "",
             f"- **Collapsed stages (majority)**: {', '.join(group_label(g) for g in stages) or 'none'}",
             f"- **Suggestion**: {suggestion['text']}", "",
             "| fold | collapsed stages | collapsed kernels | report |", "|---|---|---|---|"]
    for a, report in zip(results, reports):
        lines.append(f"| {a.run_dir.name} | {', '.join(a.collapsed_stages) or '-'} | {len(a.flagged)} | "
                     f"[report]({Path(os.path.relpath(report, out)).as_posix()}) |")
    lines += ["", "| kernel | folds collapsed |", "|---|---:|"]
    lines += [f"| `{k}` | {c}/{n} |" for k, c in kernel_counts.items() if c]
    lines += ["", "## Criterion", "", criterion.describe(), ""]
    (out / "report.md").write_text("\n".join(lines))
    summary = {"folds": [str(a.run_dir) for a in results], "collapsed_stages": stages,
               "stage_counts": stage_counts, "kernel_counts": kernel_counts, "suggestion": suggestion,
               "criterion": dataclasses.asdict(criterion)}
    (out / "report.json").write_text(json.dumps(summary, indent=2))
    return out / "report.md"


def analyze_after_training(run_dir, config: RunConfig, *, always: bool = False, log=print) -> Path | None:
    """train.py's closing step: the analysis of a finished run when it is cheap (the run wrote histograms and
    its model has stage rules in the registry; a few seconds), or `always`. Returns report.md, or None when
    skipped; an automatic analysis that fails prints one line instead of failing the finished run."""
    if not always and (config.histogram_freq == 0 or stage_plan(config.model) is None):
        return None
    try:
        return analyze_run(run_dir)
    except (FileNotFoundError, ValueError, OSError) as e:
        if always:
            raise
        log(f"kernel-histogram analysis skipped: {e}")
        return None


# ------------------------------------------------------------------------------------ command line

def main(argv=None) -> int:
    d = Criterion()
    p = OneLineParser(prog="python -m zoo.tools.histograms", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", help="a run folder written by train.py (runs/<name>)")
    p.add_argument("--shrink", type=float, default=d.shrink, help="collapsed if final std < SHRINK x sigma0")
    p.add_argument("--near-zero", type=float, default=d.near_zero, help="... or this share of weights is in the band")
    p.add_argument("--band", type=float, default=d.band, help="near-zero band half-width, in sigma0")
    p.add_argument("--stage-share", type=float, default=d.stage_share,
                   help="a stage collapses when this share of its feature convs is flagged")
    p.add_argument("--histograms-only", action="store_true", help="ignore last.keras; use only the event files")
    p.add_argument("--no-tensorboard", dest="tensorboard", action="store_false",
                   help="do not write the figures to <run>/tb/analysis")
    add_output_flag(p, None, "folder for report.md, report.json and the figures (default: <run>/analysis)")
    p.add_argument("--apply", action="store_true",
                   help="train the suggested smaller model with the run's recorded config and split, and compare "
                        "parameters, FLOPs, test Dice, r.w. F1 and INT8 .tflite size (apply/ beside the analysis)")
    p.add_argument("--epochs", type=int, default=None,
                   help="with --apply: train the smaller model this many epochs instead of the run's")
    quiet.add_verbose_flag(p)
    a = p.parse_args(argv)
    if a.epochs is not None and (not a.apply or a.epochs < 1):
        p.error("--epochs needs --apply" if not a.apply else f"--epochs must be at least 1, got {a.epochs}")
    criterion = Criterion(a.shrink, a.band, a.near_zero, a.stage_share)
    try:
        report = analyze_run(a.run_dir, criterion, use_checkpoint=not a.histograms_only, tensorboard=a.tensorboard,
                             output=a.output)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(report.read_text().split("\n## Criterion")[0].rstrip())
    print(f"\nreport {report}")
    return apply_command(a.run_dir, report.parent, a.epochs) if a.apply else 0


def apply_command(run_dir, analysis_dir: Path, epochs: int | None) -> int:
    """--apply: train the suggestion and write the comparison; one-line errors (exit 2; 1 for a training fault)."""
    from zoo.tools.histogram_apply import apply_suggestion
    from zoo.training.faults import TrainingFault

    try:
        comparison = apply_suggestion(run_dir, analysis_dir, epochs=epochs, after_training=analyze_after_training)
    except TrainingFault as e:  # non-finite loss, out of memory
        print(f"error: {e}", file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError) as e:  # ApplyError, RunError, UsageError, ModelFileError
        print(f"error: {e}", file=sys.stderr)
        return 2
    print("\n" + comparison.read_text().rstrip())
    print(f"\ncomparison {comparison}")
    return 0


if __name__ == "__main__":
    sys.exit(quiet.entry_point(main))
