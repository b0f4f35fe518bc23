"""Scaling: training-step and inference time (TensorFlow, float32) as the input size and the batch grow.

    python benchmarks/scaling.py                                   # quarter_multiresunet, 64-256 px, batch 1-8
    python benchmarks/scaling.py --model half_multiresunet --sizes 64 128 --batches 1 4
    python benchmarks/scaling.py --toy                             # half_unet x0.25, 32-64 px, batch 1-2 (tests)

Inputs are the bundled microplastic sample at each size (real images). Each (size, batch) is timed as the median
of `--repeats` calls after warm-up (tracing); one model per size, compiled once, trained with Adam and BCE.
"""
from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common  # noqa: E402  (imports zoo before TensorFlow)
from benchmarks.training_speed import build  # noqa: E402

import tf_keras as keras  # noqa: E402

from zoo.training import data  # noqa: E402
from zoo.models.complexity import count_macs  # noqa: E402

NAME = "scaling"
HEADERS = ("input", "batch", "GMACs / image", "train ms / step", "train ms / image", "train images/s",
           "inference ms / batch", "inference ms / image", "inference images/s")


def sample_batch(size: int, batch: int):
    """`batch` real (image, mask) pairs of the sample at size x size (cycled when the sample is smaller)."""
    pairs = data.find_pairs(common.SAMPLE_DATA)
    x, y = data.load_arrays([pairs[i % len(pairs)] for i in range(batch)], data.DataConfig((size, size), 3))
    return x, y


def measure_size(a, size: int) -> list:
    """Rows for one input size: every batch size's training-step and inference times."""
    model = build(a.model, size, a.width)
    macs = count_macs(model) / 1e9
    rows = []
    for batch in a.batches:
        x, y = sample_batch(size, batch)
        train_s = common.median_time(lambda: model.train_on_batch(x, y), repeats=a.repeats, warmup=2)
        infer_s = common.median_time(lambda: model.predict_on_batch(x), repeats=a.repeats, warmup=2)
        rows.append([f"{size}x{size}", batch, macs, 1000 * train_s, 1000 * train_s / batch, batch / train_s,
                     1000 * infer_s, 1000 * infer_s / batch, batch / infer_s])
        print(f"{size}x{size} batch {batch}: train {1000 * train_s:.1f} ms, inference {1000 * infer_s:.1f} ms", flush=True)
    keras.backend.clear_session()
    return rows


def plot(rows, a, path) -> None:
    """ms per image against input pixels, one line per batch size, for training and inference (log-log)."""
    fig, axes = common.new_figure(2)
    for ax, col, title in zip(axes, (4, 7), ("training step", "inference")):
        for batch in a.batches:
            sel = [r for r in rows if r[1] == batch]
            ax.plot([int(r[0].split("x")[0]) ** 2 for r in sel], [r[col] for r in sel], "o-", label=f"batch {batch}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("input pixels (H x W)")
        ax.set_ylabel("ms per image")
        ax.set_title(f"{a.model}: {title}")
        ax.legend(fontsize=8)
    fig.tight_layout()
    common.save_figure(fig, path)


def reading(rows, a) -> str:
    """How time per image grows with pixels (largest vs smallest size at batch 1) and what batching gains."""
    first, last = a.sizes[0], a.sizes[-1]
    b1 = {int(r[0].split("x")[0]): r for r in rows if r[1] == a.batches[0]}
    pix = (last / first) ** 2
    grow_train, grow_inf = b1[last][4] / b1[first][4], b1[last][7] / b1[first][7]
    big = [r for r in rows if r[0] == f"{last}x{last}"]
    gain = big[-1][5] / big[0][5]
    return (f"from {first} to {last} px ({pix:.0f}x the pixels) time per image grows x{grow_train:.1f} (training) and "
            f"x{grow_inf:.1f} (inference) at batch {a.batches[0]}; at {last} px batch {a.batches[-1]} trains "
            f"x{gain:.2f} the images/s of batch {a.batches[0]}. No target; a trend, not a pass/fail."
            + (" Toy run: not a measurement." if a.toy else ""))


def main(argv=None) -> int:
    p = common.base_parser(__doc__)
    p.add_argument("--model", default="quarter_multiresunet")
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    p.add_argument("--batches", type=int, nargs="+", default=[1, 2, 4, 8])
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args(argv)
    if a.toy:
        a.model, a.width, a.sizes, a.batches, a.repeats = "half_unet", 0.25, [32, 64], [1, 2], 1
    if min(a.sizes) < 1 or min(a.batches) < 1:
        raise common.BenchmarkError("--sizes and --batches must be positive")
    a.sizes, a.batches = sorted(set(a.sizes)), sorted(set(a.batches))
    common.set_tf_threads(a.threads)
    try:
        rows = [r for size in a.sizes for r in measure_size(a, size)]
    except ValueError as e:
        raise common.BenchmarkError(f"{a.model}: {' '.join(str(e).split())}") from None
    common.check_finite_positive(rows, range(2, 9))
    plot(rows, a, Path(a.output) / f"{NAME}.png")
    intro = (f"{a.model} (width {a.width:g}), float32 TensorFlow/Keras, {a.threads} threads; train = one "
             f"`train_on_batch` (Adam, BCE), inference = one `predict_on_batch`; median of {a.repeats} after 2 warm-up calls.")
    common.write_result(a.output, NAME, "Scaling: time against input size and batch", argv, intro,
                        common.markdown_table(HEADERS, rows), reading(rows, a), a.threads)
    return 0


if __name__ == "__main__":
    sys.exit(common.run_main(main))
