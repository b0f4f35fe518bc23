"""Paper 001's experiment (Table 3) in one command: every optimizer x loss pair trained on one fixed
split, then its post-training-quantized, quantization-aware and pruned variants, all scored on the
same test images.

    python -m zoo.tools.grid --quick                      # the whole grid at small size, minutes on a CPU
    python -m zoo.tools.grid --data ../shared/data/dsb2018_nuclei --optimizers adam,nadam,rmsprop,adagrad \\
        --losses bce,dice_bce,dice_focal,jaccard_bce --variants base,ptq,qat,pruned        # the full preset

Variants: `base` (the trained float model), `ptq` (full-INT8 TFLite, calibrated on training images),
`qat` (the base model fine-tuned with fake quantization, `zoo.models.quantization.quantize_model`, then INT8),
`pruned` (the base model fine-tuned under tfmot magnitude pruning, polynomial 50 % -> 90 % sparsity,
masks updated every 100 steps; scored as a float model, as the paper does). QAT and pruning are
`deploy.compress.quantization_aware` and `deploy.compress.prune`, fine-tuning with the cell's own
optimizer and loss. INT8 files run in LiteRT (`deploy.convert`).

Output folder (`--output`, default runs/grid or runs/grid-quick): grid.json (settings), split.json (the
image names of train/val/test), cells/<loss>-<optimizer>/ (base.keras, history.csv, <variant>.json,
<variant>_per_image.csv), then results.csv, table.md (laid out like the paper's Table 3, the paper's
numbers beside ours) and chart.png. Every finished variant is on disk, so running the same command
again after an interruption continues where it stopped; base training resumes from its last epoch.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import gzip
import io
import json
import shutil
import sys
import time
from pathlib import Path

import zoo  # noqa: F401  sets TF_USE_LEGACY_KERAS before TensorFlow is imported
from zoo import quiet
from zoo.tools import paper001

ROOT = Path(__file__).resolve().parents[2]
VARIANTS = ("base", "ptq", "qat", "pruned")
TABLE_KEYS = ("accuracy", "f1", "iou", "recall", "precision")  # the paper's Table 3 columns (Jaccard = IoU)

PRESETS = {
    # Paper 001's settings (paper 001): U-Net, 256x256, batch 8 (QAT 6), 100 epochs,
    # lr 1e-4 then 1e-7 after epoch 40, 60/20/20 split. Fine-tuning length for QAT/pruning is not stated: ours.
    "full": dict(model="unet", image_size=256, epochs=100, batch_size=8, qat_batch_size=6, lr=1e-4, lr_drop_epoch=40,
                 lr_after_drop=1e-7, finetune_epochs=10, finetune_lr=1e-4, prune_frequency=100, val_fraction=0.2,
                 test_fraction=0.2, max_images=0, output="runs/grid"),
    # The whole grid in minutes on a CPU: the smallest model, 32x32, 16 sample images, 2 epochs.
    "quick": dict(model="quarter_multiresunet", data=str(ROOT / "data" / "sample_microplastics"), image_size=32,
                  epochs=2, batch_size=4, qat_batch_size=4, lr=1e-3, lr_drop_epoch=0, finetune_epochs=1,
                  finetune_lr=1e-4, prune_frequency=1, val_fraction=0.0, test_fraction=0.25, max_images=16,
                  calibration_images=8, eager=True, output="runs/grid-quick"),
}


@dataclasses.dataclass(frozen=True)
class GridConfig:
    """Everything the grid's numbers depend on; saved as grid.json, and a resumed grid must match it."""

    data: str = ""
    optimizers: tuple = ("adam", "nadam", "rmsprop", "adagrad")
    losses: tuple = ("bce", "dice_bce", "dice_focal", "jaccard_bce")
    variants: tuple = VARIANTS
    model: str = "unet"
    image_size: int = 256
    channels: int = 3
    mask_invert: bool = False
    epochs: int = 100
    batch_size: int = 8
    qat_batch_size: int = 6
    lr: float = 1e-4
    lr_drop_epoch: int = 40  # 0 = constant learning rate
    lr_after_drop: float = 1e-7
    finetune_epochs: int = 10
    finetune_lr: float = 1e-4
    prune_initial: float = 0.5
    prune_final: float = 0.9
    prune_frequency: int = 100
    calibration_images: int = 64
    val_fraction: float = 0.2
    test_fraction: float = 0.2
    max_images: int = 0  # 0 = all pairs; else the first N by file stem
    seed: int = 0
    eager: bool = False  # train without graph tracing: faster for the few tiny steps of --quick


class GridError(ValueError):
    """Settings or data that cannot work; one line."""


def cell_name(loss: str, optimizer: str) -> str:
    return f"{loss}-{optimizer}"


# --- one cell ------------------------------------------------------------------------------------

def learning_rate(cfg: GridConfig, steps_per_epoch: int):
    """Paper 001: lr for the first `lr_drop_epoch` epochs, then `lr_after_drop` (a step; the paper does not
    say how the drop happens). `lr_drop_epoch` 0 keeps lr constant."""
    import tf_keras as keras

    if not cfg.lr_drop_epoch:
        return cfg.lr
    return keras.optimizers.schedules.PiecewiseConstantDecay([cfg.lr_drop_epoch * steps_per_epoch],
                                                             [cfg.lr, cfg.lr_after_drop])


def train_base(cfg: GridConfig, loss: str, optimizer: str, datasets, cell_dir: Path, log):
    """Train the cell's float model (resuming from its last finished epoch) and save base.keras atomically."""
    import tf_keras as keras

    from zoo.training import loop, callbacks
    from zoo import files
    from zoo.training.losses import get_loss
    from zoo.training.metrics import default_metrics

    train_ds, val_ds = datasets
    keras.utils.set_random_seed(cfg.seed)  # every cell starts from the same initial weights
    model = zoo.build_model(cfg.model, input_shape=(cfg.image_size, cfg.image_size, cfg.channels))
    steps = int(train_ds.cardinality().numpy())
    model.compile(optimizer=loop.make_optimizer(optimizer, learning_rate(cfg, steps)), loss=get_loss(loss),
                  metrics=default_metrics(), run_eagerly=cfg.eager)
    done = callbacks.completed_epochs(cell_dir / "backup")
    callbacks.trim_history(cell_dir / "history.csv", done)
    log(f"{cell_dir.name}: training {cfg.model} for {cfg.epochs} epochs" + (f" (resuming after {done})" if done else ""))
    start = time.perf_counter()
    model.fit(train_ds, validation_data=val_ds, epochs=cfg.epochs, verbose=0,
              callbacks=[callbacks.StopOnNonFiniteLoss(), keras.callbacks.CSVLogger(str(cell_dir / "history.csv"), append=True),
                         callbacks.make_backup(cell_dir / "backup")])
    with files.atomic_path(cell_dir / "base.keras") as tmp:
        model.save(tmp)
    files.atomic_write_text(cell_dir / "base_training.json",
                               json.dumps({"seconds": round(time.perf_counter() - start, 2), "epochs": cfg.epochs}))
    shutil.rmtree(cell_dir / "backup", ignore_errors=True)
    keras.backend.clear_session()


def predict(model, x, batch_size: int = 8):
    """Keras model outputs as one array (a direct call per batch: no `predict` function to trace)."""
    import numpy as np

    return np.concatenate([model(x[i:i + batch_size], training=False).numpy() for i in range(0, len(x), batch_size)])


def weights_gzip_bytes(model) -> int:
    """Size of the model's float32 weights after gzip: what pruning's zeros save in a compressed download."""
    import numpy as np

    raw = b"".join(np.asarray(w, np.float32).tobytes() for w in model.get_weights())
    return len(gzip.compress(raw, 6))


def make_variant(variant: str, model, cfg: GridConfig, loss: str, optimizer: str, arrays, train_seconds=None) -> tuple:
    """(foreground probabilities on the test images, extra facts) for one variant of the trained `model`,
    which stays unchanged. Pruning and QAT fine-tune `finetune_epochs` with the cell's optimizer and loss at
    `finetune_lr` (`deploy.compress`)."""
    import numpy as np

    from deploy import compress, convert

    x_test, calibration, train_ds, qat_ds = arrays
    tuning = dict(epochs=cfg.finetune_epochs, lr=cfg.finetune_lr, optimizer=optimizer, run_eagerly=cfg.eager)
    if variant == "base":
        return predict(model, x_test), {"params": int(model.count_params()), "weights_gzip_bytes": weights_gzip_bytes(model),
                                        "train_seconds": train_seconds}
    if variant == "pruned":
        pruned, sparsity = compress.prune(model, train_ds, loss, sparsity=cfg.prune_final, schedule="polynomial",
                                          initial_sparsity=cfg.prune_initial, frequency=cfg.prune_frequency, **tuning)
        return predict(pruned, x_test), {"sparsity": round(float(np.mean(list(sparsity.values()))), 4),
                                         "weights_gzip_bytes": weights_gzip_bytes(pruned)}
    if variant == "ptq":
        blob = convert.to_tflite(model, "int8", calibration)
    else:  # qat: ranges start from PTQ's (calibrated), not tfmot's [-6, 6]
        qat, _ = compress.quantization_aware(model, qat_ds, loss, calibration=calibration, **tuning)
        blob = convert.to_tflite(qat, "qat", calibration)
    return convert.LiteRTModel(blob).predict(x_test), {"int8_tflite_bytes": len(blob)}


# --- the grid ------------------------------------------------------------------------------------

def check_config(cfg: GridConfig) -> None:
    """Names and numbers that cannot work are one-line `GridError`s before anything is written."""
    from zoo.training.losses import LOSSES
    from zoo.training.loop import OPTIMIZERS

    for kind, given, known in (("optimizer", cfg.optimizers, OPTIMIZERS), ("loss", cfg.losses, LOSSES),
                               ("variant", cfg.variants, VARIANTS)):
        bad = [g for g in given if g not in known]
        if bad or not given:
            raise GridError(f"--{kind}s: unknown {kind} {bad[0] if bad else '(none given)'!r}; choose from {', '.join(known)}")
    if cfg.model not in zoo.list_models():
        raise GridError(f"--model: {zoo.models.registry.unknown_model_message(cfg.model)}")
    if min(cfg.epochs, cfg.batch_size, cfg.qat_batch_size, cfg.finetune_epochs, cfg.prune_frequency) < 1:
        raise GridError("--epochs, --batch-size, --qat-batch-size, --finetune-epochs and --prune-frequency must be at least 1")
    if not 0 < cfg.test_fraction < 1 or not 0 <= cfg.val_fraction < 1 or cfg.val_fraction + cfg.test_fraction >= 1:
        raise GridError(f"--test-fraction {cfg.test_fraction} and --val-fraction {cfg.val_fraction} leave no training "
                        "or no test images")


def prepare(cfg: GridConfig, out: Path, overwrite: bool = False) -> tuple:
    """Check the data, fix the split and write grid.json / split.json; a folder from other settings is an error."""
    from zoo.training import data
    from zoo import files

    if not cfg.data:
        raise GridError("--data is required (a folder with images/ and masks/), or use --quick")
    pairs = data.find_pairs(cfg.data)
    if cfg.max_images:
        pairs = pairs[:cfg.max_images]
    train, val, test = data.split_pairs(pairs, val_fraction=cfg.val_fraction, test_fraction=cfg.test_fraction,
                                        seed=cfg.seed)
    if len(train) < cfg.batch_size:
        raise GridError(f"--batch-size {cfg.batch_size} is larger than the {len(train)} training images of {cfg.data}")
    settings = {**dataclasses.asdict(cfg), "optimizers": list(cfg.optimizers), "losses": list(cfg.losses),
                "variants": list(cfg.variants)}
    split = {name: [p[0].name for p in part] for name, part in (("train", train), ("val", val), ("test", test))}
    if out.exists() and overwrite:
        if not (out / "grid.json").is_file():
            raise GridError(f"{out}: not a grid folder (no grid.json); --overwrite only replaces grids")
        shutil.rmtree(out)
    if (out / "grid.json").is_file():
        old = json.loads((out / "grid.json").read_text())
        same = {k: v for k, v in old.items() if k not in ("optimizers", "losses", "variants")} == \
            {k: v for k, v in settings.items() if k not in ("optimizers", "losses", "variants")}
        if not same:
            changed = sorted(k for k in settings if old.get(k) != settings[k] and k not in ("optimizers", "losses", "variants"))
            raise GridError(f"{out}: holds a grid with other settings ({', '.join(changed)} differ); "
                            "rerun with them, choose another --output, or --overwrite")
        if json.loads((out / "split.json").read_text()) != split:
            raise GridError(f"{out}: the images of {cfg.data} changed since this grid started, so its split would "
                            "change; restore the data, choose another --output, or --overwrite")
    out.mkdir(parents=True, exist_ok=True)
    files.remove_partial_files(out)
    files.atomic_write_text(out / "grid.json", json.dumps(settings, indent=2))
    files.atomic_write_text(out / "split.json", json.dumps(split, indent=1))
    return train, val, test


def run_grid(cfg: GridConfig, out, *, overwrite: bool = False, log=print) -> list[dict]:
    """Run (or continue) the grid in `out`; returns one row per (loss, optimizer, variant) and writes the reports."""
    import tf_keras as keras

    from zoo.training import data, metrics, faults
    from zoo import files

    check_config(cfg)
    out = Path(out)
    train, val, test = prepare(cfg, out, overwrite)
    dcfg = data.DataConfig((cfg.image_size, cfg.image_size), cfg.channels, mask_invert=cfg.mask_invert)
    x_test, y_test = data.load_arrays(test, dcfg)
    x_cal, _ = data.load_arrays(train[:cfg.calibration_images], dcfg)
    calibration = [x_cal[i:i + 1] for i in range(len(x_cal))]
    train_ds = data.make_dataset(train, dcfg, batch_size=cfg.batch_size, shuffle=True, seed=cfg.seed)
    qat_ds = data.make_dataset(train, dcfg, batch_size=cfg.qat_batch_size, shuffle=True, seed=cfg.seed)
    val_ds = data.make_dataset(val, dcfg, batch_size=cfg.batch_size) if val else None
    names = [p[0].name for p in test]
    log(f"grid: {len(cfg.losses)} losses x {len(cfg.optimizers)} optimizers x {len(cfg.variants)} variants; "
        f"{len(train)} train / {len(val)} val / {len(test)} test images of {cfg.data}; output in {out}")

    rows = []
    for loss in cfg.losses:
        for optimizer in cfg.optimizers:
            cell_dir = out / "cells" / cell_name(loss, optimizer)
            cell_dir.mkdir(parents=True, exist_ok=True)
            model = None
            for variant in cfg.variants:
                result = cell_dir / f"{variant}.json"
                if result.is_file():
                    rows.append(json.loads(result.read_text()))
                    continue
                if not (cell_dir / "base.keras").is_file():
                    with faults.out_of_memory_hint(cfg.batch_size, (cfg.image_size,) * 2, 1.0):
                        train_base(cfg, loss, optimizer, (train_ds, val_ds), cell_dir, log)
                start = time.perf_counter()
                model = model or files.load_model(cell_dir / "base.keras", compile=False)
                trained = json.loads((cell_dir / "base_training.json").read_text())["seconds"]
                prob, facts = make_variant(variant, model, cfg, loss, optimizer, (x_test, calibration, train_ds, qat_ds),
                                           trained)
                per_image = metrics.per_image_scores(y_test, metrics.foreground(prob), names=names)
                files.atomic_write_text(cell_dir / f"{variant}_per_image.csv", metrics.per_image_csv(per_image))
                row = {"loss": loss, "optimizer": optimizer, "variant": variant, **metrics.summarize(per_image), **facts,
                       "seconds": round(time.perf_counter() - start, 2)}
                files.atomic_write_text(result, json.dumps(row, indent=2))
                rows.append(row)
                log(f"{cell_dir.name} {variant}: Dice {row['image_mean_f1']:.4f}, IoU {row['image_mean_iou']:.4f} "
                    f"(mean over {len(test)} test images)")
            keras.backend.clear_session()  # free this cell's graphs before the next
    write_reports(rows, cfg, out)
    log(f"grid done: {out / 'table.md'}, {out / 'results.csv'}, {out / 'chart.png'}")
    return rows


# --- reports -------------------------------------------------------------------------------------

def write_reports(rows: list[dict], cfg: GridConfig, out: Path) -> None:
    """results.csv (every number), table.md (paper 001's Table 3 layout) and chart.png."""
    from zoo import files

    keys = list(dict.fromkeys(k for r in rows for k in r))
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=keys, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    files.atomic_write_text(out / "results.csv", text.getvalue())
    files.atomic_write_text(out / "table.md", markdown_table(rows, cfg))
    save_chart(rows, out / "chart.png")


def _label(loss: str, optimizer: str) -> str:
    return f"{paper001.LOSS_LABELS.get(loss, loss)}-{paper001.OPTIMIZER_LABELS.get(optimizer, optimizer)}"


def markdown_table(rows: list[dict], cfg: GridConfig) -> str:
    """Paper 001's Table 3 layout (one row per combination and variant), our per-image means, the paper's numbers beside."""
    lines = [f"# Optimizer x loss x compression grid (paper 001, Table 3 layout): {cfg.model} at "
             f"{cfg.image_size}x{cfg.image_size}", "",
             f"Data {cfg.data}; one fixed split (split.json), seed {cfg.seed}; {cfg.epochs} epochs, batch "
             f"{cfg.batch_size}; QAT and pruning fine-tune {cfg.finetune_epochs} epoch(s) with the cell's optimizer; "
             f"pruning {cfg.prune_initial:.0%} -> {cfg.prune_final:.0%} every {cfg.prune_frequency} steps. Scores are "
             "means over the test images (threshold 0.5), as the paper's look; pooled scores, specificity and "
             "boundary distances are in results.csv. Paper: its Table 3 (accuracy / F1 / Jaccard), on its own data.", "",
             "| Combination | Model | Accuracy | F1 | Jaccard | Recall | Precision | HD95 px | paper Acc / F1 / Jac |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        paper = paper001.paper_row(r["loss"], r["optimizer"], r["variant"])
        paper_text = " / ".join(f"{v:.4f}" for v in paper[:3]) if paper else "not run"
        scores = " | ".join(f"{r[f'image_mean_{k}']:.4f}" for k in TABLE_KEYS)
        lines.append(f"| {_label(r['loss'], r['optimizer'])} | {paper001.VARIANT_LABELS[r['variant']]} | {scores} | "
                     f"{r['image_mean_hd95']:.2f} | {paper_text} |")
    for variant in dict.fromkeys(r["variant"] for r in rows):
        lines += ["", f"F1 by loss and optimizer, {paper001.VARIANT_LABELS[variant]}:", "",
                  "| Loss \\ Optimizer | " + " | ".join(paper001.OPTIMIZER_LABELS.get(o, o) for o in cfg.optimizers) + " |",
                  "|---|" + "---|" * len(cfg.optimizers)]
        by_cell = {(r["loss"], r["optimizer"]): r for r in rows if r["variant"] == variant}
        for loss in cfg.losses:
            cells = [f"{by_cell[(loss, o)]['image_mean_f1']:.4f}" if (loss, o) in by_cell else "-" for o in cfg.optimizers]
            lines.append(f"| {paper001.LOSS_LABELS.get(loss, loss)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def save_chart(rows: list[dict], path: Path) -> None:
    """Grouped bars: per-image mean F1 and Jaccard of every combination, one bar per variant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    combos = list(dict.fromkeys((r["loss"], r["optimizer"]) for r in rows))
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    by = {(r["loss"], r["optimizer"], r["variant"]): r for r in rows}
    fig, axes = plt.subplots(2, 1, figsize=(max(6, 1.2 * len(combos) * len(variants) / 2), 6.5), sharex=True)
    width = 0.8 / max(1, len(variants))
    for ax, key, title in zip(axes, ("image_mean_f1", "image_mean_iou"), ("F1 (Dice)", "Jaccard (IoU)")):
        for i, v in enumerate(variants):
            values = [by[(*c, v)][key] if (*c, v) in by else np.nan for c in combos]
            ax.bar(np.arange(len(combos)) + (i - (len(variants) - 1) / 2) * width, values, width,
                   label=paper001.VARIANT_LABELS[v])
        ax.set_ylabel(title)
        ax.set_ylim(0, 1)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(ncol=len(variants), fontsize=8, loc="lower right")
    axes[1].set_xticks(np.arange(len(combos)), [_label(*c) for c in combos], rotation=30, ha="right", fontsize=8)
    fig.tight_layout()
    from zoo import files

    with files.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)


# --- command line --------------------------------------------------------------------------------

class OneLineParser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"error: {message} (see python -m zoo.tools.grid --help)\n")


def parse_args(argv=None) -> tuple[GridConfig, argparse.Namespace]:
    """Command line -> GridConfig; `--quick` / `--full` set defaults that explicit flags override."""
    d = GridConfig()
    p = OneLineParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="the whole grid at small size in minutes on a CPU (tested)")
    p.add_argument("--data", default=d.data, help="folder with images/ and masks/ (paper 001: cell images)")
    p.add_argument("--optimizers", default=",".join(d.optimizers), help="comma-separated (adam, nadam, rmsprop, adagrad, ...)")
    p.add_argument("--losses", default=",".join(d.losses), help="comma-separated names from train.py --loss")
    p.add_argument("--variants", default=",".join(d.variants), help="comma-separated: base, ptq, qat, pruned")
    p.add_argument("--model", default=d.model)
    p.add_argument("--image-size", type=int, default=d.image_size)
    p.add_argument("--channels", type=int, choices=(1, 3), default=d.channels)
    p.add_argument("--mask-invert", action="store_true", help="foreground is black in the mask files")
    for name in ("epochs", "batch_size", "qat_batch_size", "lr_drop_epoch", "finetune_epochs", "prune_frequency",
                 "calibration_images", "max_images", "seed"):
        p.add_argument("--" + name.replace("_", "-"), type=int, default=getattr(d, name))
    for name in ("lr", "lr_after_drop", "finetune_lr", "prune_initial", "prune_final", "val_fraction", "test_fraction"):
        p.add_argument("--" + name.replace("_", "-"), type=float, default=getattr(d, name))
    p.add_argument("--output", default=PRESETS["full"]["output"], help="output folder; rerun the same command to resume")
    p.add_argument("--overwrite", action="store_true", help="start again in an existing --output")
    quiet.add_verbose_flag(p)
    quick = "--quick" in (sys.argv[1:] if argv is None else argv)
    p.set_defaults(**{k: v for k, v in PRESETS["quick" if quick else "full"].items()})
    a = p.parse_args(argv)
    fields = {f.name for f in dataclasses.fields(GridConfig)}
    values = {k: v for k, v in vars(a).items() if k in fields}
    for key in ("optimizers", "losses", "variants"):
        values[key] = tuple(s.strip() for s in values[key].split(",") if s.strip())
    return GridConfig(**values), a


def main(argv=None) -> int:
    cfg, args = parse_args(argv)
    from zoo.training import data, faults
    from zoo import files

    try:
        run_grid(cfg, args.output, overwrite=args.overwrite)
    except (GridError, data.DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (faults.TrainingFault, files.ModelFileError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\ninterrupted: finished variants are kept in {args.output}; run the same command again to continue",
              file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(quiet.entry_point(main))
