"""Prediction speed: predict.py's images/s on a folder against the bare LiteRT invoke rate of the same INT8 file.

    python benchmarks/predict_speed.py                                  # half_multiresunet, 256x256, 40 sample images
    python benchmarks/predict_speed.py --model quarter_multiresunet --size 128 --repeats 5
    python benchmarks/predict_speed.py --toy                            # quarter_multiresunet, 32x32, 8 images (tests)
    python benchmarks/predict_speed.py --tflite tflite_models/half_multiresunet_mpset/half_multiresunet_256x256_int8.tflite

The model is built with random weights (speed does not depend on them) and converted to full INT8, calibrated on
sample images; or `--tflite` times a shipped INT8 file (with its `.json` preprocessing beside it). "predict" is the whole of `python predict.py FOLDER --model FILE.tflite` after loading: read and
decode each PNG, fit, normalise, quantize, invoke, dequantize, map back to the image size, threshold, count
connected components, write the mask PNG (and the overlay JPEG in the first row) and the CSV. "bare" is
`invoke_raw` on one input quantized beforehand, as many times as there are images. Both run in this process with
the same interpreter settings, the best of `--repeats` runs each. Target: predict >= 0.8 x the bare rate.
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common  # noqa: E402  (imports zoo before TensorFlow)

import zoo  # noqa: E402
from deploy import convert, predict  # noqa: E402
from zoo.training import data  # noqa: E402

NAME = "predict_speed"
HEADERS = ("model", "input", "images", "outputs", "bare invoke images/s", "predict images/s", "ratio")
TARGET = 0.8


def int8_file(model_name: str, size: int, folder: Path, calibration: int) -> Path:
    """`model_name` at size x size with random weights, converted to full INT8 calibrated on sample images."""
    model = zoo.build_model(model_name, input_shape=(size, size, 3))
    pairs = data.find_pairs(common.SAMPLE_DATA)[:calibration]
    x = data.load_arrays(pairs, data.DataConfig((size, size), 3))[0]
    path = folder / f"{model_name}_{size}x{size}_int8.tflite"
    path.write_bytes(convert.to_tflite(model, "int8", [x[i:i + 1] for i in range(len(x))]))
    return path


def bare_rate(runner: convert.LiteRTModel, x, n: int, repeats: int) -> float:
    """Images/s of `n` invocations of the interpreter on one pre-quantized input (best of `repeats`)."""
    xq = runner.quantize_input(x)
    for _ in range(3):
        runner.invoke_raw(xq)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(n):
            runner.invoke_raw(xq)
        best = min(best, time.perf_counter() - start)
    return n / best


def predict_rate(predictor, items, out: Path, overlays: bool, repeats: int) -> float:
    """Images/s of predict.py's loop over `items`, writing into `out` (best of `repeats`, after one warm-up run)."""
    best = float("inf")
    for i in range(repeats + 1):
        opts = predict.Options(out, overlays=overlays, progress=False)
        start = time.perf_counter()
        summary = predict.predict(predictor, items, opts, log=print)
        seconds = time.perf_counter() - start
        if summary["images"] != len(items):
            raise common.BenchmarkError(f"predict segmented {summary['images']} of {len(items)} images")
        if i:
            best = min(best, seconds)
    return len(items) / best


def plot(rows, path) -> None:
    fig, (ax,) = common.new_figure(1, width=7)
    labels = [f"{r[0]}\n{r[3]}" for r in rows]
    xs = range(len(rows))
    ax.bar([i - 0.2 for i in xs], [r[4] for r in rows], 0.4, label="bare invoke")
    ax.bar([i + 0.2 for i in xs], [r[5] for r in rows], 0.4, label="predict.py")
    ax.set_xticks(list(xs), labels, fontsize=8)
    ax.set_ylabel("images / s")
    ax.set_title("predict.py against the bare LiteRT interpreter (INT8)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    common.save_figure(fig, path)


def main(argv=None) -> int:
    p = common.base_parser(__doc__)
    p.add_argument("--model", default="half_multiresunet")
    p.add_argument("--size", type=int, default=256, help="model input (the sample images are 256x256)")
    p.add_argument("--images", type=int, default=40, help="images in the folder (the sample cycled)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--tflite", default=None, metavar="FILE",
                   help="time this INT8 .tflite (e.g. a shipped model) instead of a random-weights --model")
    a = p.parse_args(argv)
    if a.toy:
        a.model, a.size, a.images, a.repeats = "quarter_multiresunet", 32, 8, 1
    if a.size < 16 or a.images < 1 or a.repeats < 1:
        raise common.BenchmarkError("--size must be at least 16, --images and --repeats at least 1")
    if a.tflite and not Path(a.tflite).is_file():
        raise common.BenchmarkError(f"--tflite {a.tflite}: no such file")
    if not a.tflite and a.model not in zoo.list_models():
        raise common.BenchmarkError(f"--model: no model named {a.model!r} (python train.py --list-models)")
    common.set_tf_threads(a.threads)
    pairs = data.find_pairs(common.SAMPLE_DATA)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folder = tmp / "images"
        folder.mkdir()
        for i in range(a.images):
            (folder / f"{i:04d}.png").write_bytes(pairs[i % len(pairs)][0].read_bytes())
        model_path = Path(a.tflite) if a.tflite else int8_file(a.model, a.size, tmp, 4 if a.toy else 16)
        predictor = predict.load_predictor(model_path, threads=a.threads)
        if a.tflite:
            a.model = model_path.name
            a.size = "x".join(map(str, predictor.preprocessing.data_config().image_size))
        items = predict.find_inputs(folder)
        x = data.normalize(data.load_arrays(pairs[:1], predictor.preprocessing.data_config())[0],
                           predictor.preprocessing.data_config())
        rows = []
        for overlays in (True, False):
            bare = bare_rate(predictor.backend.runner, x, a.images, a.repeats)
            rate = predict_rate(predictor, items, tmp / "out", overlays, a.repeats)
            outputs = "mask, overlay, CSV" if overlays else "mask, CSV"
            size = a.size if a.tflite else f"{a.size}x{a.size}"
            rows.append([a.model, size, a.images, outputs, bare, rate, rate / bare])
            print(f"{outputs}: bare {bare:.1f} images/s, predict {rate:.1f} images/s ({rate / bare:.2f})", flush=True)
    common.check_finite_positive(rows, (4, 5, 6))
    plot(rows, Path(a.output) / f"{NAME}.png")
    worst = min(r[6] for r in rows)
    reading = (f"predict.py runs at {worst:.2f} of the bare interpreter's rate or better (target >= {TARGET}: "
               f"{'met' if worst >= TARGET else 'not met'}); the rest is reading, resizing and writing files, done in "
               f"threads beside inference." + (" Toy run: a 32 px model is all overhead; not a measurement."
                                                if a.toy else ""))
    weights = f"the file `{a.tflite}`" if a.tflite else "random weights"
    intro = (f"{a.model} at {rows[0][1]}, {weights}, full INT8, LiteRT with {a.threads} threads; "
             f"{a.images} PNG images of the bundled sample; best of {a.repeats} runs.")
    common.write_result(a.output, NAME, "Prediction: predict.py against the bare interpreter", argv, intro,
                        common.markdown_table(HEADERS, rows), reading, a.threads)
    return 0


if __name__ == "__main__":
    sys.exit(common.run_main(main))
