"""Train a zoo model on a folder of images and masks, with TensorBoard logs and checkpoints.

Reads top to bottom: arguments -> config (saved before training) -> data -> model -> fit -> evaluate.
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import sys
import time
from pathlib import Path

import zoo  # sets TF_USE_LEGACY_KERAS before TensorFlow is imported

ROOT = Path(__file__).resolve().parent
DEFAULT_DATA = ROOT / "data" / "sample_microplastics"

EXAMPLES = """examples:
  python train.py --model half_multiresunet                      # bundled microplastic sample
  python train.py --list-models                                  # parameters and FLOPs vs the papers
  python train.py --model unet --data ../shared/data/kvasir_seg --image-size 256 --loss bce_dice
  python train.py --data ../shared/data/mpset_microplastics --mask-invert --folds 5
  python train.py --model quarter_multiresunet --model-arg respath_length=1 --width 2
"""


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything a run depends on; written to `config.json` before training starts."""

    model: str = "half_multiresunet"
    model_args: dict = dataclasses.field(default_factory=dict)
    width: float = 1.0
    data: str = str(DEFAULT_DATA)
    mask_invert: bool = False
    mask_threshold: float = 0.5
    image_size: tuple = (256, 256)
    channels: int = 3
    fit: str = "resize"
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    folds: int = 0
    fold: int | None = None
    augment: bool = True
    epochs: int = 8
    batch_size: int = 4
    loss: str = "weighted_bce"
    optimizer: str = "adam"
    lr: float = 1e-3
    lr_schedule: str = "exponential"
    seed: int = 0
    histogram_freq: int = 1
    output: str = "runs"
    name: str | None = None


def parse_args(argv=None) -> tuple[RunConfig, argparse.Namespace]:
    from zoo.losses import LOSSES
    from zoo.training import LR_SCHEDULES, OPTIMIZERS

    d = RunConfig()
    p = argparse.ArgumentParser(description=__doc__, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("model")
    g.add_argument("--model", default=d.model, help="registry name (see --list-models)")
    g.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="builder argument, e.g. filters=(16,32,64) or batch_norm=False; repeatable")
    g.add_argument("--width", type=float, default=d.width, help="channel multiplier for any model")
    g.add_argument("--list-models", action="store_true", help="print models with parameters and FLOPs, then exit")
    g = p.add_argument_group("data")
    g.add_argument("--data", default=d.data, help="folder with images/ and masks/ matched by file stem")
    g.add_argument("--mask-invert", action="store_true", help="foreground is black in the mask files")
    g.add_argument("--mask-threshold", type=float, default=d.mask_threshold, help="foreground where mask > this x full scale")
    g.add_argument("--image-size", default="256", help="model input size: N or HxW (divisible by the model's stride)")
    g.add_argument("--channels", type=int, choices=(1, 3), default=d.channels)
    g.add_argument("--fit", choices=("resize", "pad"), default=d.fit, help="stretch, or keep aspect ratio and pad")
    g.add_argument("--val-fraction", type=float, default=d.val_fraction)
    g.add_argument("--test-fraction", type=float, default=d.test_fraction, help="ignored with --folds")
    g.add_argument("--folds", type=int, default=d.folds, help="k-fold cross-validation (paper 002: 5); 0 = one split")
    g.add_argument("--fold", type=int, default=None, help="with --folds, run only this fold (0-based)")
    g.add_argument("--no-augment", dest="augment", action="store_false", help="turn off flips/affine/brightness")
    g = p.add_argument_group("training")
    g.add_argument("--epochs", type=int, default=d.epochs)
    g.add_argument("--batch-size", type=int, default=d.batch_size)
    g.add_argument("--loss", choices=sorted(LOSSES), default=d.loss, help="weighted_bce is paper 002's Eqs. 25-29")
    g.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default=d.optimizer)
    g.add_argument("--lr", type=float, default=d.lr, help="initial learning rate")
    g.add_argument("--lr-schedule", choices=LR_SCHEDULES, default=d.lr_schedule,
                   help="exponential = paper 002's x0.96 every 800 steps")
    g.add_argument("--seed", type=int, default=d.seed, help="fixes splits, shuffling and initial weights")
    g = p.add_argument_group("output")
    g.add_argument("--output", default=d.output, help="runs are written to OUTPUT/<model>-<time>/")
    g.add_argument("--name", default=None, help="run folder name instead of <model>-<time>")
    g.add_argument("--histogram-freq", type=int, default=d.histogram_freq, help="epochs between weight histograms (0 = off)")
    g.add_argument("--analyze", action="store_true",
                   help="after training, report which stages' kernels collapse (python -m zoo.histograms)")
    from deploy.__main__ import add_deploy_arguments

    add_deploy_arguments(p, quantize_default=())
    g.add_argument("--export-dir", default=None, help="where --quantize/--prune files go (default tflite_models/<model>)")
    a = p.parse_args(argv)

    if a.model not in zoo.list_models():
        p.error(zoo.registry.unknown_model_message(a.model))
    try:
        model_args = {k: ast.literal_eval(v) for k, v in (s.split("=", 1) for s in a.model_arg)}
    except (ValueError, SyntaxError):
        p.error(f"--model-arg expects KEY=VALUE with a Python literal value, got {a.model_arg}")
    try:
        size = tuple(int(v) for v in a.image_size.lower().split("x"))
        size = size * 2 if len(size) == 1 else size
        assert len(size) == 2 and min(size) > 0
    except (ValueError, AssertionError):
        p.error(f"--image-size expects N or HxW, got {a.image_size!r}")
    if a.prune is not None and not 0 < a.prune < 1:
        p.error(f"--prune expects a sparsity between 0 and 1, got {a.prune}")
    if a.fold is not None and not 0 <= a.fold < max(a.folds, 1):
        p.error(f"--fold {a.fold} needs --folds greater than {a.fold}")
    fields = {f.name for f in dataclasses.fields(RunConfig)}
    cfg = RunConfig(**{**{k: v for k, v in vars(a).items() if k in fields}, "model_args": model_args,
                       "image_size": size})
    return cfg, a


def list_models_table() -> str:
    """Name, parameters and FLOPs at the paper's input size, beside the paper's figures."""
    from zoo.complexity import count_flops

    rows = [f"{'model':24s}{'input':>12s}{'params':>12s}{'paper':>12s}{'FLOPs':>10s}{'paper':>10s}"]
    for name in zoo.list_models():
        info = zoo.get_model_info(name)
        shape = info.get("input_shape", (512, 512, 3))
        m = zoo.build_model(name, input_shape=shape)
        paper_p = f"{info['params'] / 1e6:.4f}M" if "params" in info else "-"
        paper_f = f"{info['flops'] / 1e9:.1f}B" if "flops" in info else "-"
        rows.append(f"{name:24s}{'x'.join(map(str, shape)):>12s}{m.count_params() / 1e6:>11.4f}M{paper_p:>12s}"
                    f"{count_flops(m) / 1e9:>9.1f}B{paper_f:>10s}")
    return "\n".join(rows) + "\nFLOPs count multiplications and additions separately, as paper 002 does."


def train_one(cfg: RunConfig, run_dir: Path, splits) -> dict:
    """Train one model on (train, val, test) pairs; write checkpoints, logs and metrics.json."""
    import numpy as np
    import tf_keras as keras

    from zoo import data, training
    from zoo.losses import get_loss
    from zoo.metrics import default_metrics

    train_pairs, val_pairs, test_pairs = splits
    keras.utils.set_random_seed(cfg.seed)
    dcfg = data.DataConfig(cfg.image_size, cfg.channels, cfg.mask_threshold, cfg.mask_invert, cfg.fit)
    fill = data.mean_pixel(train_pairs, dcfg) if cfg.augment else 0.0
    aug = data.make_augmentation(fill) if cfg.augment else None
    batch = min(cfg.batch_size, len(train_pairs))
    train_ds = data.make_dataset(train_pairs, dcfg, batch_size=batch, augment=aug, shuffle=True, seed=cfg.seed)
    val_ds = data.make_dataset(val_pairs, dcfg, batch_size=batch) if val_pairs else None

    model = zoo.build_model(cfg.model, input_shape=(*cfg.image_size, cfg.channels), width=cfg.width, **cfg.model_args)
    steps = cfg.epochs * int(np.ceil(len(train_pairs) / batch))
    lr = training.make_learning_rate(cfg.lr, cfg.lr_schedule, steps)
    model.compile(optimizer=training.make_optimizer(cfg.optimizer, lr), loss=get_loss(cfg.loss),
                  metrics=default_metrics())

    monitor = "val_dice" if val_ds is not None else "dice"
    tb_dir = run_dir / "tb"
    callbacks = [
        training.LearningRateLogger(),
        keras.callbacks.TensorBoard(str(tb_dir), histogram_freq=cfg.histogram_freq, write_graph=True),
        keras.callbacks.ModelCheckpoint(str(run_dir / "best.keras"), monitor=monitor, mode="max", save_best_only=True),
        keras.callbacks.ModelCheckpoint(str(run_dir / "last.keras")),
        keras.callbacks.CSVLogger(str(run_dir / "history.csv")),
        keras.callbacks.TerminateOnNaN(),
    ]
    preview = val_pairs or train_pairs
    if preview:
        x, y = data.load_arrays(preview[:4], dcfg)
        callbacks.append(training.PredictionImages(str(tb_dir / "images"), x, y))
    model.fit(train_ds, validation_data=val_ds, epochs=cfg.epochs, callbacks=callbacks,
              verbose=1 if sys.stdout.isatty() else 2)

    best = keras.models.load_model(run_dir / "best.keras") if (run_dir / "best.keras").exists() else model
    eval_pairs, eval_split = (test_pairs, "test") if test_pairs else (val_pairs, "val")
    metrics = {"split": eval_split, "images": len(eval_pairs), "train_images": len(train_pairs),
               "val_images": len(val_pairs), "params": int(model.count_params())}
    if eval_pairs:
        metrics.update(training.evaluate_at_original_size(best, eval_pairs, dcfg))
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    keras.backend.clear_session()  # free the graph before the next fold
    return metrics


def main(argv=None) -> int:
    cfg, args = parse_args(argv)
    if args.list_models:
        print(list_models_table())
        return 0
    from zoo import data

    try:
        pairs = data.find_pairs(cfg.data)
    except data.DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    run_dir = Path(cfg.output) / (cfg.name or f"{cfg.model}-{time.strftime('%Y%m%d-%H%M%S')}")
    if run_dir.exists():
        print(f"error: {run_dir}: run folder already exists; choose another --name", file=sys.stderr)
        return 2
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=2))

    if cfg.folds:
        folds = [cfg.fold] if cfg.fold is not None else range(cfg.folds)
        results = {}
        for k in folds:
            splits = data.kfold_pairs(pairs, folds=cfg.folds, fold=k, val_fraction=cfg.val_fraction, seed=cfg.seed)
            (run_dir / f"fold{k}").mkdir()
            results[f"fold{k}"] = train_one(cfg, run_dir / f"fold{k}", splits)
        keys = [k for k, v in next(iter(results.values())).items() if isinstance(v, float)]
        results["mean"] = {k: sum(r[k] for r in results.values()) / len(folds) for k in keys}
        (run_dir / "metrics.json").write_text(json.dumps(results, indent=2))
        final = results["mean"]
    else:
        splits = data.split_pairs(pairs, val_fraction=cfg.val_fraction, test_fraction=cfg.test_fraction, seed=cfg.seed)
        final = train_one(cfg, run_dir, splits)

    if args.quantize or args.prune:
        export_for_deployment(args, run_dir)
    if args.analyze:
        from zoo.histograms import analyze_run

        print(f"kernel-histogram report (which stages learn) in {analyze_run(run_dir)}")
    print_summary(cfg, run_dir, final, len(pairs))
    return 0


def export_for_deployment(args, run_dir: Path) -> Path:
    """Compress and export the run's best model (first fold with --folds); the report lands beside the files."""
    from deploy.__main__ import options_from_args
    from deploy.pipeline import deploy_saved_model

    cfg = json.loads((run_dir / "config.json").read_text())
    fold_dir = run_dir if (run_dir / "best.keras").exists() else sorted(run_dir.glob("fold*"))[0]
    out = Path(args.export_dir) if args.export_dir else ROOT / "tflite_models" / cfg["model"]
    deploy_saved_model(fold_dir / "best.keras", cfg, options_from_args(args), out)
    print(f"deployment files and report.md in {out}")
    return out


def print_summary(cfg: RunConfig, run_dir: Path, metrics: dict, n_pairs: int) -> None:
    """One screen: what ran, where everything is, the headline scores, how to open TensorBoard."""
    print("\n" + "=" * 72)
    print(f"model {cfg.model} trained {cfg.epochs} epochs on {n_pairs} pairs from {cfg.data}")
    print(f"run folder   {run_dir}")
    print(f"config       {run_dir / 'config.json'}")
    print(f"checkpoints  {run_dir}/**/best.keras, last.keras")
    print(f"metrics      {run_dir / 'metrics.json'}")
    shown = {k: v for k, v in metrics.items() if k.startswith("pooled_") and isinstance(v, float)}
    if shown:
        print("scores (pooled over all evaluation pixels, threshold 0.5):")
        print("  " + "  ".join(f"{k[7:]} {v:.4f}" for k, v in shown.items()))
    print(f"TensorBoard  tensorboard --logdir {run_dir}")
    print("=" * 72)


if __name__ == "__main__":
    sys.exit(main())
