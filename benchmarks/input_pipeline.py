"""Input pipeline: training images per second with the real pipeline (decode, fit and augment from disk,
`zoo.training.data.make_dataset`) divided by the same model trained on in-memory tensors. Target: at least 0.9.

    python benchmarks/input_pipeline.py --data ../shared/data/kvasir_seg --max-images 96
    python benchmarks/input_pipeline.py --toy                     # half_unet x0.25, 32x32 (tests)

One float32 model is fed in turn by each source; after one warm-up epoch per source (tracing, the first
decoding pass that fills the cache), the sources are timed round-robin, `--steps` steps each per round, so
background load hits them alike. Ratio = median over rounds of (source rate / in-memory rate in that round).
The datasets come from `benchmarks/training_speed.py` (same code as the training-speed table).
"""
from __future__ import annotations

import math
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common  # noqa: E402  (imports zoo before TensorFlow)
from benchmarks.training_speed import build, memory_and_disk_datasets  # noqa: E402

import numpy as np  # noqa: E402

from zoo.training import data  # noqa: E402

NAME = "input_pipeline"
TARGET = 0.9
HEADERS = ("source", "images/s (median)", "ratio to in-memory (median)", "ratio min", "ratio max")


def timed_rate(model, iterator, steps: int, batch: int) -> float:
    """Images per second of `steps` training steps drawn from `iterator`."""
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(*next(iterator))
    return steps * batch / (time.perf_counter() - start)


def round_robin_rates(model, sources: dict, *, steps: int, batch: int, rounds: int, warmup_steps: int) -> dict:
    """{label: [images/s per round]}: each source warmed up for `warmup_steps`, then timed in turn each round."""
    iterators = {label: iter(ds.repeat()) for label, ds in sources.items()}
    for it in iterators.values():
        timed_rate(model, it, warmup_steps, batch)
    rates = {label: [] for label in sources}
    for _ in range(rounds):
        for label, it in iterators.items():
            rates[label].append(timed_rate(model, it, steps, batch))
    return rates


def table_rows(rates: dict) -> list:
    """Rows of median rate and per-round ratio statistics against the first (in-memory) source."""
    base = next(iter(rates.values()))
    rows = []
    for label, r in rates.items():
        ratios = [a / b for a, b in zip(r, base)]
        rows.append([label, statistics.median(r), statistics.median(ratios), min(ratios), max(ratios)])
    return rows


def plot(rows, path) -> None:
    """Images per second of each source, labelled with its ratio to in-memory."""
    fig, (ax,) = common.new_figure(1, width=7)
    x = np.arange(len(rows))
    ax.bar(x, [r[1] for r in rows], color=["grey"] + ["tab:blue"] * (len(rows) - 1))
    for i, r in enumerate(rows):
        ax.text(i, r[1], f"x{r[2]:.2f}", ha="center", va="bottom")
    ax.set_xticks(x, [r[0].replace(", ", "\n") for r in rows], fontsize=8)
    ax.set_ylabel("training images / s")
    fig.tight_layout()
    common.save_figure(fig, path)


def main(argv=None) -> int:
    p = common.base_parser(__doc__)
    p.add_argument("--model", default="half_multiresunet")
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--steps", type=int, default=5, help="timed steps per source per round")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--data", default=str(common.SAMPLE_DATA), help="an images/ + masks/ folder")
    p.add_argument("--max-images", type=int, default=96, help="use the first N pairs (memory and warm-up time)")
    a = p.parse_args(argv)
    if a.toy:
        a.model, a.width, a.image_size, a.batch_size, a.steps, a.rounds, a.max_images = "half_unet", 0.25, 32, 2, 1, 2, 8
    pairs = data.find_pairs(a.data)[:a.max_images]
    if len(pairs) < a.batch_size:
        raise common.BenchmarkError(f"{a.data}: {len(pairs)} pairs are fewer than --batch-size {a.batch_size}")
    common.set_tf_threads(a.threads)
    memory, disk = memory_and_disk_datasets(pairs, a.image_size, a.batch_size)
    sources = {"in-memory tensors (no decode, no augmentation)": memory,
               "real pipeline, --cache memory (default)": disk("memory"),
               "real pipeline, --cache none (decode every epoch)": disk("none")}
    model = build(a.model, a.image_size, a.width)
    rates = round_robin_rates(model, sources, steps=a.steps, batch=a.batch_size, rounds=a.rounds,
                              warmup_steps=math.ceil(len(pairs) / a.batch_size))
    rows = table_rows(rates)
    common.check_finite_positive(rows, [1, 2, 3, 4])
    plot(rows, Path(a.output) / f"{NAME}.png")
    default = rows[1][2]
    intro = (f"{a.model} (width {a.width:g}), float32, {a.image_size}x{a.image_size}, batch {a.batch_size}, "
             f"{len(pairs)} pairs of `{common.display_path(a.data)}`; {a.rounds} rounds x {a.steps} steps per source "
             f"after a one-epoch warm-up each. Augmentation: flips, affine, brightness/contrast (zoo.training.data).")
    reading = (f"target ratio >= {TARGET}: {'met' if default >= TARGET else 'NOT met'} with the default pipeline "
               f"(x{default:.2f}); decoding every epoch gives x{rows[2][2]:.2f}"
               + ("." if rows[2][2] >= TARGET else " (decode + augmentation on the same 2 cores as training).")
               + (" Toy run: not a measurement." if a.toy else ""))
    common.write_result(a.output, NAME, "Input pipeline: real pipeline vs in-memory tensors", argv, intro,
                        common.markdown_table(HEADERS, rows), reading, a.threads)
    return 0


if __name__ == "__main__":
    sys.exit(common.run_main(main))
