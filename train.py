"""Train a zoo model on a folder of images and masks, with TensorBoard logs and checkpoints.

Reads top to bottom: flags -> RunConfig -> data check -> split -> run folder (config.json, split.json
written before training) -> fit -> evaluate -> optional export. Bad flags and bad data are a one-line
`error:` and exit code 2 before anything is written; a training fault (non-finite loss, out of memory)
is one line and exit code 1; Ctrl-C exits with 130. Every epoch is backed up, so `--resume RUN_DIR`
continues an interrupted run where it stopped, on its recorded split.
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import sys
from pathlib import Path

import zoo  # sets TF_USE_LEGACY_KERAS before TensorFlow is imported; light: TensorFlow loads after the flags parse
from zoo import quiet
from zoo.cli import OneLineParser, add_data_flags, add_output_flag, parse_size
from zoo.training.run import RunConfig, RunError, UsageError

EXAMPLES = """examples:
  python train.py --model half_multiresunet                      # bundled microplastic sample
  python train.py --list-models                                  # the papers' models: parameters and FLOPs vs the papers
  python train.py --list-models 'unet_*'                         # every model matching a pattern (encoder x decoder pairs too)
  python train.py --model unet --data ../shared/data/kvasir_seg --image-size 256 --loss bce_dice
  python train.py --data ../shared/data/mpset_microplastics --mask-invert --folds 5
  python train.py --model quarter_multiresunet --model-arg respath_length=1 --width 2
  python train.py --model deeplabv3plus_mobilenetv3 --encoder-weights imagenet --data ../shared/data/kvasir_seg --image-size 288x384
  python train.py --model unet_efficientnet_b0 --encoder-weights imagenet   # any decoder on any encoder
  python train.py --list-recipes                                 # each paper's training setup
  python train.py --recipe paper002_microplastics --epochs 20    # paper 002's setup, 20 epochs
  python train.py --resume runs/half_multiresunet-20250101-120000   # continue an interrupted run
"""

# flags --resume accepts: train longer, smaller batches after OOM, other devices
RESUME_MAY_CHANGE = ("epochs", "batch_size", "strategy", "jit_compile", "cache", "prefetch", "decode_workers")


def build_parser() -> OneLineParser:
    """train.py's flags (recipes are checked against them: names, types, choices)."""
    from deploy.options import add_deploy_arguments
    from zoo.training.choices import LOSS_NAMES, LR_SCHEDULES, OPTIMIZER_NAMES, POLICIES, STRATEGIES

    d = RunConfig()
    p = OneLineParser(prog="python train.py", description=__doc__, epilog=EXAMPLES,
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("model")
    g.add_argument("--model", default=d.model, help="registry name (see --list-models); encoder x decoder pairs are "
                                                    "<decoder>_<encoder>, e.g. unet_resnet34")
    g.add_argument("--encoder", default=None, metavar="NAME", help="shorthand: --model DECODER --encoder NAME is "
                                                                   "--model DECODER_NAME")
    g.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="builder argument, e.g. filters=(16,32,64) or batch_norm=False; repeatable")
    g.add_argument("--width", type=float, default=d.width, help="channel multiplier for any model")
    g.add_argument("--encoder-weights", default=None, metavar="imagenet|PATH",
                   help="ImageNet weights for a model's pretrained encoder: imagenet (the official file, "
                        "downloaded into the Keras cache on first use) or an .h5 file")
    g.add_argument("--list-models", nargs="?", const="", default=None, metavar="PATTERN",
                   help="print models with parameters and FLOPs, then exit; a PATTERN (wildcards) lists every "
                        "matching model, encoder x decoder pairs included")
    g.add_argument("--recipe", metavar="NAME|FILE.yaml", default=None,
                   help="train the way a paper did (recipes/NAME.yaml); any flag given overrides the recipe")
    g.add_argument("--list-recipes", action="store_true", help="print the paper recipes, then exit")
    g = p.add_argument_group("data")
    add_data_flags(g, d)
    g.add_argument("--strict", action="store_true",
                   help="stop at the first bad file; by default bad pairs are listed and skipped")
    g.add_argument("--max-pixels", type=int, default=d.max_pixels, metavar="N",
                   help="skip image or mask files with more pixels than this, read from the header before decoding "
                        "(0 = no limit)")
    g.add_argument("--image-size", "--input-size", dest="image_size", default="256",
                   help="model input size: N or HxW (divisible by the model's stride)")
    g.add_argument("--channels", type=int, choices=(1, 3), default=d.channels)
    g.add_argument("--fit", choices=("resize", "pad"), default=d.fit, help="stretch, or keep aspect ratio and pad")
    g.add_argument("--val-fraction", type=float, default=d.val_fraction)
    g.add_argument("--test-fraction", type=float, default=d.test_fraction, help="ignored with --folds or --test-data")
    g.add_argument("--test-data", default=d.test_data, metavar="DIR",
                   help="test on every usable pair of another dataset folder (e.g. train on Kvasir-SEG, test on "
                        "CVC-ClinicDB); --data then gives train and val only")
    g.add_argument("--folds", type=int, default=d.folds, help="k-fold cross-validation (paper 002: 5); 0 = one split")
    g.add_argument("--fold", type=int, default=None, help="with --folds, run only this fold (0-based)")
    g.add_argument("--no-augment", dest="augment", action="store_false", help="turn off flips/affine/brightness")
    g.add_argument("--augment", dest="augment", action="store_true", default=d.augment,
                   help="turn them on (the default; overrides a recipe without augmentation)")
    g.add_argument("--cache", choices=("memory", "disk", "none"), default=d.cache,
                   help="keep decoded, resized images after epoch 1 in RAM, in files in the run folder, or not at all")
    g.add_argument("--prefetch", type=int, default=None, metavar="N", help="batches prepared ahead (default: autotune)")
    g.add_argument("--decode-workers", type=int, default=None, metavar="N",
                   help="images decoded and augmented in parallel (default: autotune)")
    g = p.add_argument_group("training")
    g.add_argument("--epochs", type=int, default=d.epochs)
    g.add_argument("--batch-size", type=int, default=d.batch_size)
    g.add_argument("--loss", choices=sorted(LOSS_NAMES), default=d.loss, help="weighted_bce is paper 002's Eqs. 25-29")
    g.add_argument("--loss-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="loss argument, e.g. alpha=0.3 (bce_dice), gamma=2 (focal), epsilon=1e-6 (adapt_exp); repeatable")
    g.add_argument("--optimizer", choices=sorted(OPTIMIZER_NAMES), default=d.optimizer)
    g.add_argument("--lr", type=float, default=d.lr, help="initial learning rate")
    g.add_argument("--lr-schedule", choices=LR_SCHEDULES, default=d.lr_schedule,
                   help="exponential = paper 002's x0.96 every 800 steps")
    g.add_argument("--seed", type=int, default=d.seed, help="fixes splits, shuffling and initial weights")
    g.add_argument("--mixed-precision", nargs="?", const="auto", default=None, choices=POLICIES,
                   help="compute in float16 (GPU) or bfloat16 (CPU/TPU) with float32 weights, head and loss; "
                        "auto picks by device")
    g.add_argument("--jit-compile", action="store_true", help="compile the training step with XLA")
    g.add_argument("--strategy", choices=STRATEGIES, default=d.strategy,
                   help="tf.distribute strategy: auto = mirrored over several GPUs; multiworker reads TF_CONFIG "
                        "(--batch-size is the global batch)")
    g = p.add_argument_group("output")
    add_output_flag(g, d.output, "runs are written to OUTPUT/<model>-<time>/")
    g.add_argument("--name", default=None, help="run folder name instead of <model>-<time>")
    g.add_argument("--resume", metavar="RUN_DIR", default=None,
                   help="continue an interrupted run from its last epoch, with its config.json and split.json "
                        f"(only {', '.join('--' + k.replace('_', '-') for k in RESUME_MAY_CHANGE)} may change)")
    g.add_argument("--overwrite", action="store_true", help="replace an existing run folder of the same name")
    g.add_argument("--histogram-freq", type=int, default=d.histogram_freq, help="epochs between weight histograms (0 = off)")
    g.add_argument("--histograms", choices=("kernels", "all"), default=d.histograms,
                   help="which weights get histograms (grouped by stage in TensorBoard): conv kernels, or all "
                        "(BatchNorm and biases too)")
    g.add_argument("--analyze", action=argparse.BooleanOptionalAction, default=None,
                   help="after training, report which stages' kernels collapse (python -m zoo.tools.histograms); "
                        "default: whenever the run has histograms and the model has stage rules")
    add_deploy_arguments(p, quantize_default=())
    p.add_argument("--export-dir", default=None, help="where --quantize/--prune/--mcu-ram files go "
                                                      "(default tflite_models/<model>)")
    quiet.add_verbose_flag(p)
    return p


def parse_args(argv=None) -> tuple[RunConfig, argparse.Namespace]:
    """The run's config from the flags (or, with --resume, from the run folder) and the parsed flags."""
    from zoo.tools import recipes

    p = build_parser()
    a = p.parse_args(argv)
    from zoo.models import registry  # TensorFlow loads here, once the flags parse
    if a.resume:  # a resumed run keeps its recorded settings
        return resumed_config(p, a), a
    recipe = None
    if a.recipe and not a.list_recipes:
        recipe, a = recipes.apply_recipe(p, a, argv, warn=lambda line: print(line, file=sys.stderr))
    if a.list_models is not None or a.list_recipes:
        return RunConfig(), a
    try:
        model = registry.resolve_model_name(a.model, a.encoder)
        zoo.get_model_entry(model)
    except KeyError as e:
        p.error(f"{'--encoder' if e.args[0].startswith('unknown encoder') else '--model'}: {e.args[0]}")
    bad = [s for s in a.model_arg if "=" not in s or not s.split("=", 1)[0].isidentifier()]
    if bad:
        p.error(f"--model-arg expects KEY=VALUE, got {bad[0]!r}")
    model_args = {k: literal_or_text(v) for k, v in (s.split("=", 1) for s in a.model_arg)}
    try:
        size = parse_size(a.image_size)
    except ValueError as e:
        p.error(f"--image-size {e}")
    if a.prune is not None and not 0 < a.prune < 1:
        p.error(f"--prune expects a sparsity between 0 and 1, got {a.prune}")
    if a.encoder_weights is not None and not registry.has_pretrained_encoder(model):
        takes = [n for n in zoo.list_models(pairs=False) if registry.has_pretrained_encoder(n)]
        p.error(f"--encoder-weights: model {model} has no pretrained encoder (models with one: {', '.join(takes)}, "
                "and every encoder x decoder pair)")
    fields = {f.name for f in dataclasses.fields(RunConfig)}
    cfg = RunConfig(**{**{k: v for k, v in vars(a).items() if k in fields}, "model": model, "model_args": model_args,
                       "image_size": size, "loss_args": parse_loss_args(p, a.loss, a.loss_arg), "recipe": None,
                       "input_normalization": zoo.get_model_info(model).get("input_normalization")})
    if recipe is not None:
        cfg = dataclasses.replace(cfg, recipe=recipes.recipe_record(recipe, cfg))
    try:
        return cfg.check(), a
    except ValueError as e:
        p.error(str(e))


def resumed_config(p: argparse.ArgumentParser, a: argparse.Namespace) -> RunConfig:
    """The recorded config of `--resume RUN_DIR` with the flags a resumed run may change; other flags conflict."""
    path = Path(a.resume) / "config.json"
    try:
        cfg = RunConfig.from_json(path)
    except RunError as e:
        p.error(f"--resume: {e}")
    given = [k for k, v in vars(a).items() if v != p.get_default(k)]
    run_flags = {f.name for f in dataclasses.fields(RunConfig)} | {"model_arg", "loss_arg", "encoder", "overwrite", "recipe"}
    conflicts = [k for k in given if k in run_flags and k not in RESUME_MAY_CHANGE]
    if conflicts:
        flag = {"augment": "--no-augment"}.get(conflicts[0], "--" + conflicts[0].replace("_", "-"))
        p.error(f"{flag} conflicts with --resume: a resumed run keeps the settings in {path} "
                "(start a new run to change them)")
    try:
        return dataclasses.replace(cfg, **{k: getattr(a, k) for k in RESUME_MAY_CHANGE if k in given}).check()
    except ValueError as e:
        p.error(str(e))


def literal_or_text(value: str):
    """A --model-arg value: a Python literal (3, 0.5, (16, 32), True), else the text itself (bilinear)."""
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value


def parse_loss_args(p: argparse.ArgumentParser, loss: str, items: list) -> dict:
    """--loss-arg KEY=VALUE items as a dict, checked by building the loss (one-line error otherwise)."""
    from zoo.training.losses import get_loss

    try:
        args = {k: ast.literal_eval(v) for k, v in (s.split("=", 1) for s in items)}
    except (ValueError, SyntaxError):
        p.error(f"--loss-arg expects KEY=VALUE with a Python literal value, got {items}")
    try:
        get_loss(loss, **args)
    except (ValueError, TypeError) as e:
        p.error(f"--loss-arg for --loss {loss}: {e}")
    return args


def main(argv=None) -> int:
    cfg, args = parse_args(argv)
    if args.list_models is not None:
        from zoo.models.complexity import models_table

        print(models_table(args.list_models or None))
        return 0
    if args.list_recipes:
        from zoo.tools.recipes import list_recipes_table

        print(list_recipes_table(build_parser()))
        return 0
    if cfg.recipe and not args.resume:
        changed = ", ".join(f"{k}={v}" for k, v in cfg.recipe["overridden"].items()) or "nothing"
        print(f"recipe {cfg.recipe['name']} ({cfg.recipe['file']}); changed by flags: {changed}")
    from zoo.training import data, distribute, faults, loop, run
    from zoo.files import ModelFileError

    try:  # everything that can be wrong with the flags, the data or the record, before the run folder is touched
        strategy = distribute.make_strategy(cfg.strategy)  # first: MultiWorkerMirroredStrategy must precede other ops
        chief = distribute.is_chief(strategy)
        if distribute.is_multiworker(strategy) and not (cfg.name or args.resume):
            raise UsageError("--strategy multiworker needs --name (or --resume) so that all workers share one run folder")
        if args.resume:
            recorded = run.Run.load(args.resume).check_files()
            splits, n_pairs = recorded.splits, sum(len(part) for part in recorded.first()[1])
        else:
            pairs = run.usable_pairs(cfg)
            test_pairs = run.usable_pairs(cfg, root=cfg.test_data) if cfg.test_data else ()
            splits, n_pairs = cfg.make_splits(pairs, test_pairs), len(pairs) + len(test_pairs)
        run.check_batch_and_model(cfg, splits)
        if args.mcu_ram:  # a budget no tile can run in is refused now, not after training
            check_mcu_budget(cfg, args.mcu_ram)
        if not chief:
            recorded, run_dir = None, Path(args.resume or Path(cfg.output) / cfg.name)
            distribute.wait_for_chief(run_dir / "config.json")
        elif args.resume:
            recorded = run.resume_run(recorded, cfg)
        else:
            recorded = run.create_run(cfg, splits, overwrite=args.overwrite)
        run_dir = recorded.path if recorded else run_dir
    except (data.DataError, UsageError, RunError, ValueError, distribute.StrategyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"training with {distribute.describe(strategy)}")
    try:
        final = loop.train_all(cfg, run_dir, splits, strategy)
    except (faults.TrainingFault, ModelFileError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001 - only a lost peer is translated; anything else is a real bug
        if not distribute.is_peer_failure(e, strategy):
            raise
        print(f"error: a worker stopped or became unreachable ({e.__class__.__name__} in a collective op); finished "
              f"epochs are backed up: restart every worker with: python train.py --resume {run_dir}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\ninterrupted: finished epochs are kept; continue with: python train.py --resume {run_dir}",
              file=sys.stderr)
        return 130
    finally:
        if chief:
            run.release_lock(run_dir)
    if not chief:
        print(f"worker done; the chief wrote the run to {run_dir}")
        return 0

    if args.quantize or args.prune or args.mcu_ram:  # --mcu-ram: tiled INT8 export
        from deploy.options import options_from_args
        from deploy.pipeline import deploy_run

        try:
            out = deploy_run(recorded, options_from_args(args), args.export_dir)
        except ValueError as e:  # e.g. no tile fits --mcu-ram (deploy.tiling.arena.BudgetError)
            print(f"error: {e}; the trained run is kept in {run_dir}", file=sys.stderr)
            return 2
        print(f"deployment files and report.md in {out}")
    if args.analyze is not False:
        from zoo.tools.histograms import analyze_after_training

        if report := analyze_after_training(run_dir, cfg, always=bool(args.analyze)):
            print(f"kernel-histogram report (which stages learn) in {report}")
    print_summary(cfg, run_dir, final, n_pairs)
    return 0


def check_mcu_budget(cfg: RunConfig, mcu_ram: int) -> None:
    """BudgetError (one line with the smallest budget) when no tile of the model can run in `mcu_ram` bytes."""
    import tf_keras as keras

    from deploy.tiling.arena import check_budget

    try:
        check_budget(cfg.build_model(pretrained=False), mcu_ram)
    finally:
        keras.backend.clear_session()


def print_summary(cfg: RunConfig, run_dir: Path, metrics: dict, n_pairs: int) -> None:
    """One screen: what ran, where everything is, the headline scores, how to open TensorBoard."""
    print("\n" + "=" * 72)
    tested_on = f" (test: {cfg.test_data})" if cfg.test_data else ""
    print(f"model {cfg.model} trained {cfg.epochs} epochs on {n_pairs} pairs from {cfg.data}{tested_on}")
    print(f"run folder   {run_dir}")
    print(f"record       {run_dir / 'config.json'}, {run_dir / 'split.json'}")
    print(f"checkpoints  {run_dir}/**/best.keras, last.keras")
    print(f"metrics      {run_dir / 'metrics.json'}")
    shown = {k: v for k, v in metrics.items() if k.startswith("pooled_") and isinstance(v, float)}
    if shown:
        print("scores (pooled over all evaluation pixels, threshold 0.5):")
        print("  " + "  ".join(f"{k[7:]} {v:.4f}" for k, v in shown.items()))
    print(f"TensorBoard  tensorboard --logdir {run_dir}")
    print("=" * 72)


if __name__ == "__main__":
    sys.exit(quiet.entry_point(main))
