"""Training speed side by side in one run: float32 vs mixed precision vs XLA, and the real input pipeline
(decode + augment from disk, each cache setting) against the same model fed from in-memory tensors.

    python benchmarks/training_speed.py                       # half_multiresunet, 128x128, batch 8
    python benchmarks/training_speed.py --model unet --width 0.25 --image-size 256 --steps 20

Prints a table and writes it to benchmarks/results/training_speed.md. Images per second are measured
after a warm-up (graph tracing, XLA compilation, first-epoch decoding), median of --repeats timings.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import zoo  # noqa: E402  (selects Keras 2 before TensorFlow loads)
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

from zoo.training import data, precision  # noqa: E402
from zoo.training.losses import get_loss  # noqa: E402


def build(name, size, width, policy=None, jit=False, upsample="bilinear"):
    with precision.global_policy(policy):
        model = zoo.build_model(name, input_shape=(size, size, 3), width=width, upsample=upsample)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=get_loss("bce"), jit_compile=jit)
    return model


def images_per_second(model, dataset, steps, batch, repeats):
    """Median training throughput over `repeats` timings of `steps` steps, after one warm-up timing."""
    it = iter(dataset.repeat())
    rates = []
    for r in range(repeats + 1):
        start = time.perf_counter()
        for _ in range(steps):
            model.train_on_batch(*next(it))
        if r:  # the first timing includes tracing, compilation and the uncached first pass
            rates.append(steps * batch / (time.perf_counter() - start))
    return statistics.median(rates)


def memory_and_disk_datasets(pairs, size: int, batch: int):
    """The same images as (in-memory tensor dataset, `disk(cache, **make_dataset_kwargs)` -> the real pipeline:
    decode, fit and augment from disk, shuffled, batches of `batch`)."""
    cfg = data.DataConfig((size, size), 3)
    x, y = data.load_arrays(pairs, cfg)
    memory = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=0).batch(batch, drop_remainder=True)
    aug = data.make_augmentation(data.mean_pixel(pairs, cfg))

    def disk(cache, **kw):
        return data.make_dataset(pairs, cfg, batch_size=batch, augment=aug, shuffle=True, cache=cache, **kw)

    return memory, disk


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="half_multiresunet")
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--data", default=str(ROOT / "data" / "sample_microplastics"))
    p.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "training_speed.md"),
                   help="the Markdown table's file (default benchmarks/results/training_speed.md)")
    a = p.parse_args(argv)

    memory, disk = memory_and_disk_datasets(data.find_pairs(a.data), a.image_size, a.batch_size)

    rows = []

    def measure(label, model, dataset, base=None):
        rate = images_per_second(model, dataset, a.steps, a.batch_size, a.repeats)
        rows.append((label, rate, rate / base if base else 1.0))
        print(f"{label:58s}{rate:8.2f} img/s  x{rows[-1][2]:.2f}", flush=True)
        return rate

    # Compute: one model per numeric setting, in-memory data (bilinear upsampling: XLA has no gradient kernel
    # for nearest, so all three use the same graph).
    f32 = measure("float32, in-memory tensors", build(a.model, a.image_size, a.width), memory)
    policy = precision.resolve_policy("auto")
    measure(f"{policy}, in-memory tensors", build(a.model, a.image_size, a.width, policy), memory, f32)
    measure("float32 + XLA (--jit-compile), in-memory tensors", build(a.model, a.image_size, a.width, jit=True),
            memory, f32)
    # Input pipeline: the same float32 model fed by the real pipeline (decode, fit, augment from disk).
    model = build(a.model, a.image_size, a.width)
    for label, ds in (("real pipeline, --cache memory (default)", disk("memory")),
                      ("real pipeline, --cache disk", disk(str(Path(tempfile.mkdtemp()) / "train"))),
                      ("real pipeline, --cache none (decode every epoch)", disk("none")),
                      ("real pipeline, --cache none --decode-workers 1 --prefetch 0", disk("none", decode_workers=1,
                                                                                          prefetch=0))):
        measure(label, model, ds, f32)

    header = (f"# Training speed: {a.model} (width {a.width:g}) at {a.image_size}x{a.image_size}, batch {a.batch_size}\n\n"
              f"Measured {time.strftime('%Y-%m-%d')} on {platform.processor() or platform.machine()}, "
              f"{len(tf.config.list_physical_devices('CPU'))} CPU device(s), "
              f"{len(tf.config.list_physical_devices('GPU'))} GPU(s); {tf.config.threading.get_inter_op_parallelism_threads() or 'default'} inter-op threads; "
              f"TensorFlow {tf.__version__}, Python {platform.python_version()}. "
              f"Median of {a.repeats} x {a.steps} steps after a warm-up; ratio = rate / float32 in-memory rate.\n\n"
              "| setting | images/s | ratio |\n|---|---:|---:|\n")
    table = header + "".join(f"| {label} | {rate:.2f} | {ratio:.2f} |\n" for label, rate, ratio in rows)
    Path(a.output).parent.mkdir(parents=True, exist_ok=True)
    Path(a.output).write_text(table)
    print(f"\nwritten to {a.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
