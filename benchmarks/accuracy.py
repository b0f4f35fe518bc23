"""Accuracy and compression on real data: for each dataset a light model trained for a fixed CPU budget, then
float, PTQ INT8 and QAT INT8 Dice/IoU on the same held-out images (LiteRT), INT8 minus float, file sizes.
Targets: INT8 within 1 point of float, QAT closer than PTQ. Then paper 002's 5-fold cross-validation on
MP-Set (seed 2): recall-weighted F1 and IoU of each fold's model against the paper's usefulness line
(r.w. F1 >= 0.40, r.w. mIoU >= 0.25), float and PTQ INT8.

    python benchmarks/accuracy.py                                   # ../shared/data, stated budgets
    python benchmarks/accuracy.py --datasets kvasir_seg --minutes 2 --folds 0
    python benchmarks/accuracy.py --toy                             # half_unet x0.25, bundled sample, 32x32 (tests)

Training: Adam, paper 002's augmentation (zoo.training.data), train/val/test split by `--seed` (val unused: the last
weights are kept), stopped after `--epochs` or `--minutes`, whichever comes first. Compression and scoring
are `deploy.pipeline.run` (calibration and QAT fine-tuning on the first `--qat-images` training pairs,
without augmentation); scores are pooled over all pixels of the held-out images at the model's input size.
QAT fine-tunes `--qat-epochs` more than the float and PTQ models were trained, so QAT is compared with the float
model fine-tuned the same way (float+FT) as well as with the float model.
"""
from __future__ import annotations

import statistics
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
from deploy import compress, options, pipeline  # noqa: E402
from zoo.training import data, loop  # noqa: E402
from zoo.training.losses import get_loss  # noqa: E402

NAME = "accuracy"
USEFUL_RW_F1, USEFUL_RW_IOU = 0.40, 0.25  # paper 002's usefulness line
DATASET_HEADERS = ("dataset", "train / test images", "epochs (s)", "float Dice", "float IoU", "PTQ Dice", "PTQ IoU",
                   "QAT Dice", "QAT IoU", "PTQ - float (pts)", "QAT - float (pts)", "fp32 KB", "PTQ KB", "QAT KB",
                   "float+FT Dice", "QAT - float+FT (pts)")
FOLD_HEADERS = ("fold", "train / test images", "epochs (s)", "float r.w. F1", "float r.w. mIoU", "PTQ r.w. F1",
                "PTQ r.w. mIoU", "float Dice", "PTQ Dice", "useful (float)")


class TimeBudget(keras.callbacks.Callback):
    """Stops training after the batch during which `seconds` of training have passed; counts epochs started."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds, self.start, self.epochs = seconds, None, 0

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs = epoch + 1

    def on_train_batch_end(self, batch, logs=None):
        if time.perf_counter() - self.start > self.seconds:
            self.model.stop_training = True

    def elapsed(self) -> float:
        return time.perf_counter() - self.start


def dataset_path(name_or_path: str) -> Path:
    """A dataset folder: a path, or a name under ../shared/data; one-line error when it has no images/."""
    path = Path(name_or_path)
    if not (path / "images").is_dir():
        path = common.SHARED_DATA / name_or_path
    if not (path / "images").is_dir():
        raise common.BenchmarkError(f"dataset {name_or_path!r}: no images/ folder there or in {common.SHARED_DATA}")
    return path


def train_budgeted(a, train_pairs, cfg: data.DataConfig, loss, seed: int):
    """A light model trained on `train_pairs` for at most `a.epochs` epochs or `a.minutes` minutes.
    Returns (model, epochs started, training seconds)."""
    keras.utils.set_random_seed(seed)
    aug = data.make_augmentation(data.mean_pixel(train_pairs, cfg))
    ds = data.make_dataset(train_pairs, cfg, batch_size=min(a.batch_size, len(train_pairs)), augment=aug,
                           shuffle=True, seed=seed)
    model = zoo.build_model(a.model, input_shape=(*cfg.image_size, cfg.channels), width=a.width)
    model.compile(optimizer=loop.make_optimizer("adam", a.lr), loss=loss)  # scored after training, not during
    budget = TimeBudget(60 * a.minutes)
    model.fit(ds, epochs=a.epochs, callbacks=[budget], verbose=0)
    return model, budget.epochs, budget.elapsed()


def compress_and_score(a, model, train_pairs, test_pairs, cfg, loss, quantize) -> dict:
    """`deploy.pipeline.run` into a scratch folder: {variant: {"scores", "bytes"}} for float, fp32, int8, qat."""
    settings = options.DeployOptions(quantize=quantize, finetune_epochs=a.qat_epochs, calibration_images=a.qat_images,
                                      threads=a.threads)
    with tempfile.TemporaryDirectory() as tmp:
        report = pipeline.run(model, tmp, train_pairs=train_pairs[:a.qat_images], eval_pairs=test_pairs, data_cfg=cfg,
                              loss=loss, options=settings, log=lambda *_: None)
    return report["variants"]


def finetuned_float_dice(a, model, train_pairs, test_pairs, cfg, loss) -> float:
    """Dice of the float model fine-tuned as QAT is (same pairs, epochs, lr, micro-batches and frozen BatchNorm,
    no fake quantization): the reference that separates QAT's quantization error from its extra training."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    pairs = train_pairs[:a.qat_images]
    settings = options.DeployOptions()
    batch = min(settings.finetune_batch_size, len(pairs))
    ds = data.make_dataset(pairs, cfg, batch_size=batch, shuffle=True)  # as deploy.pipeline.run's QAT
    compress.accumulate_fine_tune(copy, ds, a.qat_epochs, loss, settings.finetune_lr,
                                  micro_batch=compress.memory_bounded_batch(copy, settings.qat_memory, batch))
    x, y = data.load_arrays(test_pairs, cfg)
    return pipeline.headline_scores(y, copy.predict(x, batch_size=4, verbose=0))["f1"]


def dataset_row(a, path: Path) -> list:
    """One dataset: train for the budget, compress, score. Returns the table row."""
    t0 = time.perf_counter()
    cfg = data.DataConfig((a.image_size, a.image_size), 3)
    train_pairs, _, test_pairs = data.split_pairs(data.find_pairs(path)[:a.max_images], seed=a.seed)
    loss = get_loss(a.loss)
    model, epochs, seconds = train_budgeted(a, train_pairs, cfg, loss, a.seed)
    v = compress_and_score(a, model, train_pairs, test_pairs, cfg, loss, ("int8", "qat"))
    ft = finetuned_float_dice(a, model, train_pairs, test_pairs, cfg, loss)
    keras.backend.clear_session()
    f, ptq, qat = (v[k]["scores"] for k in ("keras_float", "tflite_int8", "tflite_qat"))
    print(f"{path.name}: {time.perf_counter() - t0:.0f} s", flush=True)
    return [path.name, f"{len(train_pairs)} / {len(test_pairs)}", f"{epochs} ({seconds:.0f})", f["f1"], f["iou"],
            ptq["f1"], ptq["iou"], qat["f1"], qat["iou"], 100 * (ptq["f1"] - f["f1"]), 100 * (qat["f1"] - f["f1"]),
            v["tflite_fp32"]["bytes"] / 1024, v["tflite_int8"]["bytes"] / 1024, v["tflite_qat"]["bytes"] / 1024,
            ft, 100 * (qat["f1"] - ft)]


def recall_weighted(scores: dict) -> tuple[float, float]:
    """(r.w. F1, r.w. IoU) = (F1 x recall, IoU x recall), paper 002 Eqs. 34-35, from pooled scores."""
    return scores["f1"] * scores["recall"], scores["iou"] * scores["recall"]


def fold_rows(a, path: Path) -> list:
    """Paper 002's k-fold cross-validation (seed `a.fold_seed`): one row per fold's model, float and PTQ INT8."""
    cfg = data.DataConfig((a.fold_image_size, a.fold_image_size), 3, mask_invert=a.mask_invert)
    pairs = data.find_pairs(path)[:a.max_images]
    loss = get_loss("weighted_bce")
    rows = []
    for k in range(a.folds):
        t0 = time.perf_counter()
        train_pairs, _, test_pairs = data.kfold_pairs(pairs, folds=a.folds, fold=k, val_fraction=0.1, seed=a.fold_seed)
        model, epochs, seconds = train_budgeted(a.fold_args, train_pairs, cfg, loss, a.fold_seed)
        v = compress_and_score(a, model, train_pairs, test_pairs, cfg, loss, ("int8",))
        keras.backend.clear_session()
        f, ptq = v["keras_float"]["scores"], v["tflite_int8"]["scores"]
        rw_f, rw_q = recall_weighted(f), recall_weighted(ptq)
        useful = rw_f[0] >= USEFUL_RW_F1 and rw_f[1] >= USEFUL_RW_IOU
        rows.append([f"fold {k}", f"{len(train_pairs)} / {len(test_pairs)}", f"{epochs} ({seconds:.0f})", *rw_f, *rw_q,
                     f["f1"], ptq["f1"], "yes" if useful else "no"])
        print(f"fold {k}: {time.perf_counter() - t0:.0f} s", flush=True)
    means = [statistics.mean(r[c] for r in rows) for c in range(3, 9)]
    rows.append(["mean", "", "", *means, "yes" if means[0] >= USEFUL_RW_F1 and means[1] >= USEFUL_RW_IOU else "no"])
    return rows


def plot(dataset_rows, folds, path) -> None:
    """Dice of float / PTQ / float+FT / QAT per dataset, and each fold's r.w. F1 and r.w. mIoU against the usefulness line."""
    fig, (ax1, ax2) = common.new_figure(2)
    x = np.arange(len(dataset_rows))
    bars = (("float", 3), ("PTQ INT8", 5), ("float+FT (QAT's reference)", 14), ("QAT INT8", 7))
    for i, (label, col) in enumerate(bars):
        ax1.bar(x + (i - 1.5) * 0.2, [r[col] for r in dataset_rows], 0.2, label=label)
    ax1.set_xticks(x, [r[0] for r in dataset_rows], fontsize=8)
    ax1.set_ylabel("Dice (held-out images)")
    ax1.legend(fontsize=8)
    if folds:
        xf = np.arange(len(folds))
        ax2.bar(xf - 0.2, [r[3] for r in folds], 0.4, label="r.w. F1 (float)")
        ax2.bar(xf + 0.2, [r[4] for r in folds], 0.4, label="r.w. mIoU (float)")
        ax2.axhline(USEFUL_RW_F1, color="C0", ls="--", lw=1, label="usefulness r.w. F1 0.40")
        ax2.axhline(USEFUL_RW_IOU, color="C1", ls="--", lw=1, label="usefulness r.w. mIoU 0.25")
        ax2.set_xticks(xf, [r[0] for r in folds], fontsize=8)
        ax2.legend(fontsize=7)
    ax2.set_title("k-fold cross-validation (paper 002)")
    fig.tight_layout()
    common.save_figure(fig, path)


def dataset_reading(rows) -> str:
    """Whether PTQ and QAT INT8 stay within 1 Dice point of their float reference and QAT is closer than PTQ.

    PTQ's reference is the trained float model; QAT's is that model fine-tuned as QAT was (float+FT), because
    QAT's extra epoch changes Dice by itself when the float model is short of training."""
    if not rows:
        return "no dataset run."

    def names(sel):
        return f"{len(sel)} of {len(rows)} ({', '.join(sel) or 'none'})"

    ptq = [r[0] for r in rows if abs(r[9]) <= 1]
    qat = [r[0] for r in rows if abs(r[15]) <= 1]
    closer = [r[0] for r in rows if abs(r[15]) < abs(r[9])]
    met = len(ptq) == len(qat) == len(rows)
    return (f"INT8 within 1 Dice point of float: PTQ {names(ptq)}, QAT vs float+FT {names(qat)} -> target "
            f"{'met' if met else 'NOT met'}; QAT closer to its float reference than PTQ: {names(closer)} -> target "
            f"{'met' if len(closer) == len(rows) else 'NOT met'} (QAT - float without the fine-tuning reference: "
            f"{', '.join(f'{r[10]:+.2f}' for r in rows)} points).")


def fold_reading(rows, a) -> str:
    """The mean's position against paper 002's usefulness line."""
    if not rows:
        return "k-fold part not run (--folds 0)."
    m = rows[-1]
    return (f"mean over {a.folds} folds: r.w. F1 {m[3]:.3f}, r.w. mIoU {m[4]:.3f} (float), PTQ {m[5]:.3f} / {m[6]:.3f}; "
            f"usefulness line (>= 0.40 / >= 0.25) {'met' if m[9] == 'yes' else 'NOT met'}"
            f"{'' if m[9] == 'yes' else f' at this budget ({a.fold_args.minutes:g} min per fold)'}.")


def parse(argv):
    p = common.base_parser(__doc__)
    p.add_argument("--datasets", nargs="*", default=["kvasir_seg", "cvc_clinicdb", "dsb2018_nuclei"],
                   help="names under ../shared/data or paths")
    p.add_argument("--model", default="quarter_multiresunet")
    p.add_argument("--width", type=float, default=1.0, help="channel factor of both models")
    p.add_argument("--image-size", type=int, default=96)
    p.add_argument("--loss", default="bce_dice")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--epochs", type=int, default=30, help="at most this many epochs per dataset")
    p.add_argument("--minutes", type=float, default=3.0, help="CPU budget per dataset")
    p.add_argument("--max-images", type=int, default=None, help="use the first N pairs of each dataset (k-fold too)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--qat-images", type=int, default=128, help="training pairs for calibration and QAT")
    p.add_argument("--qat-epochs", type=int, default=1)
    p.add_argument("--fold-data", default="mpset_microplastics")
    p.add_argument("--folds", type=int, default=5, help="0 skips the k-fold part")
    p.add_argument("--fold-seed", type=int, default=2)
    p.add_argument("--fold-model", default="half_multiresunet")
    p.add_argument("--fold-image-size", type=int, default=128)
    p.add_argument("--fold-epochs", type=int, default=60)
    p.add_argument("--fold-minutes", type=float, default=2.0, help="CPU budget per fold")
    p.add_argument("--no-mask-invert", dest="mask_invert", action="store_false",
                   help="k-fold masks have white foreground (MP-Set's are black)")
    a = p.parse_args(argv)
    if a.toy:
        sample = str(common.SAMPLE_DATA)
        a.datasets, a.fold_data, a.mask_invert = [sample], sample, False
        a.image_size = a.fold_image_size = 32
        a.model, a.fold_model, a.width = "half_unet", "half_unet", 0.25  # few layers: quick to trace and convert
        a.epochs = a.fold_epochs = 1
        a.max_images, a.qat_images, a.folds, a.batch_size = 12, 4, 2, 4
    for name in (a.model, a.fold_model):
        if name not in zoo.list_models():
            raise common.BenchmarkError(zoo.models.registry.unknown_model_message(name))
    a.fold_args = type(a)(**{**vars(a), "model": a.fold_model, "epochs": a.fold_epochs, "minutes": a.fold_minutes,
                             "batch_size": 4})  # paper 002's recipe batch
    return a


def main(argv=None) -> int:
    a = parse(argv)
    paths = [dataset_path(d) for d in a.datasets]
    fold_path = dataset_path(a.fold_data) if a.folds else None
    common.set_tf_threads(a.threads)
    rows = [dataset_row(a, path) for path in paths]
    folds = fold_rows(a, fold_path) if a.folds else []
    common.check_finite_positive(rows, [11, 12, 13])
    common.check_finite_positive(rows, [*range(3, 11), 14, 15], positive=False)
    common.check_finite_positive(folds, range(3, 9), positive=False)
    plot(rows, folds, Path(a.output) / f"{NAME}.png")
    intro = (f"Datasets: {a.model} (width {a.width:g}) at {a.image_size}x{a.image_size}, loss {a.loss}, Adam {a.lr:g}, batch {a.batch_size}, "
             f"budget {a.epochs} epochs or {a.minutes:g} min each (whichever first), split 70/10/20 by seed {a.seed}"
             f"{f', first {a.max_images} pairs' if a.max_images else ''}; PTQ calibrated and QAT fine-tuned "
             f"({a.qat_epochs} epoch, lr 1e-4) on {a.qat_images} training pairs; float+FT = the float model fine-tuned the same way without fake quantization, QAT's fair reference. Dice/IoU pooled over the test pixels at "
             f"model size; float = Keras, INT8 = LiteRT ({a.threads} threads).")
    fold_intro = (f"k-fold on `{common.display_path(fold_path)}`: {a.folds} folds (seed {a.fold_seed}, 10 % of the rest "
                  f"validates, unused), {a.fold_model} (width {a.width:g}) at {a.fold_image_size}x{a.fold_image_size}, weighted BCE (paper 002), "
                  f"Adam {a.lr:g}, batch 4, {a.fold_epochs} epochs or {a.fold_minutes:g} min per fold; "
                  f"mask_invert={a.mask_invert}. r.w. F1 = F1 x recall, r.w. mIoU = IoU x recall, pooled per fold."
                  if a.folds else "")
    table = common.markdown_table(DATASET_HEADERS, rows)
    if folds:
        table += f"\n{fold_intro}\n\n" + common.markdown_table(FOLD_HEADERS, folds)
    reading = dataset_reading(rows) + " " + fold_reading(folds, a) + (" Toy run: not a measurement." if a.toy else "")
    common.write_result(a.output, NAME, "Accuracy and compression on real data", argv, intro, table, reading, a.threads)
    return 0


if __name__ == "__main__":
    sys.exit(common.run_main(main))
