"""Train a zoo model on a folder of images and masks, with TensorBoard logs and checkpoints.

Reads top to bottom: arguments -> data check -> config (saved before training) -> model -> fit -> evaluate.
Bad arguments and bad data are a one-line `error:` and exit code 2 before anything is written; a
training fault (non-finite loss, out of memory) is one line and exit code 1; Ctrl-C exits with 130.
Every epoch is backed up, so `--resume RUN_DIR` continues an interrupted run where it stopped.
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import shutil
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
  python train.py --model deeplabv3plus_mobilenetv3 --encoder-weights imagenet --data ../shared/data/kvasir_seg --image-size 288x384
  python train.py --model unet --encoder efficientnet_b0 --encoder-weights imagenet   # any decoder on any encoder
  python train.py --list-models --encoders --input-size 256      # every encoder x decoder pair, QAT/INT8/Edge TPU marks
  python train.py --list-recipes                                 # each paper's training setup
  python train.py --recipe paper002_microplastics --epochs 20    # paper 002's setup, 20 epochs
  python train.py --resume runs/half_multiresunet-20250101-120000   # continue an interrupted run
"""


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything a run depends on; written to `config.json` before training starts."""

    model: str = "half_multiresunet"  # a registry name, or with `encoder` a decoder of zoo.models.decoders
    encoder: str | None = None  # zoo.models.encoders.catalog name: the run trains the `model` x `encoder` pair
    model_args: dict = dataclasses.field(default_factory=dict)
    width: float = 1.0
    encoder_weights: str | None = None  # "imagenet" or a path, for models with a pretrained encoder
    input_normalization: dict | None = None  # (x - mean) / std fed to the model; from its registry info
    data: str = str(DEFAULT_DATA)
    mask_invert: bool = False
    mask_threshold: float = 0.5
    strict: bool = False
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
    loss_args: dict = dataclasses.field(default_factory=dict)
    optimizer: str = "adam"
    lr: float = 1e-3
    lr_schedule: str = "exponential"
    seed: int = 0
    histogram_freq: int = 1
    strategy: str = "auto"
    mixed_precision: str | None = None
    jit_compile: bool = False
    cache: str = "memory"
    prefetch: int | None = None
    decode_workers: int | None = None
    output: str = "runs"
    name: str | None = None
    recipe: dict | None = None  # --recipe: {"name", "file", "values" (resolved), "overridden" (by flags)}

    @classmethod
    def from_json(cls, path: Path) -> "RunConfig":
        """The config a run saved (settings this version does not know are ignored; new ones get defaults)."""
        saved = json.loads(path.read_text())
        known = {f.name for f in dataclasses.fields(cls)}
        cfg = {k: v for k, v in saved.items() if k in known}
        return cls(**{**cfg, "image_size": tuple(cfg.get("image_size", cls.image_size))})


# flags --resume accepts: train longer, smaller batches after OOM, other devices
RESUME_MAY_CHANGE = ("epochs", "batch_size", "strategy", "jit_compile", "cache", "prefetch", "decode_workers")


class OneLineParser(argparse.ArgumentParser):
    """Argument errors are one line (`error: ...`, exit code 2) instead of the usage block."""

    def error(self, message):
        self.exit(2, f"error: {message} (see python train.py --help)\n")


def build_parser() -> OneLineParser:
    """train.py's flags (recipes are checked against them: names, types, choices)."""
    from zoo.training.distribute import STRATEGIES
    from zoo.training.precision import POLICIES
    from zoo.training.losses import LOSSES
    from zoo.training.loop import LR_SCHEDULES, OPTIMIZERS
    from zoo.models import decoders
    from zoo.models.encoders import catalog

    d = RunConfig()
    p = OneLineParser(description=__doc__, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("model")
    g.add_argument("--model", default=d.model,
                   help=f"registry name (see --list-models); with --encoder a decoder: {', '.join(decoders.list_decoders())}")
    g.add_argument("--encoder", default=None, metavar="NAME",
                   help=f"encoder under the --model decoder: {', '.join(catalog.available_encoders())} "
                        "(see --list-models --encoders)")
    g.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="builder argument, e.g. filters=(16,32,64) or batch_norm=False; repeatable")
    g.add_argument("--width", type=float, default=d.width, help="channel multiplier for any model")
    g.add_argument("--encoder-weights", default=None, metavar="imagenet|PATH",
                   help="ImageNet weights for a model's pretrained encoder: from the Keras cache (imagenet) or an "
                        ".h5 file; never downloaded")
    g.add_argument("--list-models", action="store_true", help="print models with parameters and FLOPs, then exit")
    g.add_argument("--encoders", action="store_true",
                   help="with --list-models: every encoder x decoder pair (or those of --encoder / a decoder --model) "
                        "at --input-size, with its recorded QAT, INT8 and Edge TPU marks")
    g.add_argument("--recipe", metavar="NAME|FILE.yaml", default=None,
                   help="train the way a paper did (recipes/NAME.yaml); any flag given overrides the recipe")
    g.add_argument("--list-recipes", action="store_true", help="print the paper recipes, then exit")
    g = p.add_argument_group("data")
    g.add_argument("--data", default=d.data, help="folder with images/ and masks/ matched by file stem")
    g.add_argument("--mask-invert", action="store_true", help="foreground is black in the mask files")
    g.add_argument("--no-mask-invert", dest="mask_invert", action="store_false", default=d.mask_invert,
                   help="foreground is white (the default; overrides a recipe's --mask-invert)")
    g.add_argument("--mask-threshold", type=float, default=d.mask_threshold, help="foreground where mask > this x full scale")
    g.add_argument("--strict", action="store_true",
                   help="stop at the first bad file; by default bad pairs are listed and skipped")
    g.add_argument("--image-size", "--input-size", dest="image_size", default="256",
                   help="model input size: N or HxW (divisible by the model's stride)")
    g.add_argument("--channels", type=int, choices=(1, 3), default=d.channels)
    g.add_argument("--fit", choices=("resize", "pad"), default=d.fit, help="stretch, or keep aspect ratio and pad")
    g.add_argument("--val-fraction", type=float, default=d.val_fraction)
    g.add_argument("--test-fraction", type=float, default=d.test_fraction, help="ignored with --folds")
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
    g.add_argument("--loss", choices=sorted(LOSSES), default=d.loss, help="weighted_bce is paper 002's Eqs. 25-29")
    g.add_argument("--loss-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="loss argument, e.g. alpha=0.3 (bce_dice), gamma=2 (focal), epsilon=1e-6 (adapt_exp); repeatable")
    g.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default=d.optimizer)
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
    g.add_argument("--output", default=d.output, help="runs are written to OUTPUT/<model>-<time>/")
    g.add_argument("--name", default=None, help="run folder name instead of <model>-<time>")
    g.add_argument("--resume", metavar="RUN_DIR", default=None,
                   help="continue an interrupted run from its last epoch, with its config.json "
                        f"(only {', '.join('--' + k.replace('_', '-') for k in RESUME_MAY_CHANGE)} may change)")
    g.add_argument("--overwrite", action="store_true", help="replace an existing run folder of the same name")
    g.add_argument("--histogram-freq", type=int, default=d.histogram_freq, help="epochs between weight histograms (0 = off)")
    g.add_argument("--analyze", action="store_true",
                   help="after training, report which stages' kernels collapse (python -m zoo.tools.histograms)")
    from deploy.options import add_deploy_arguments

    add_deploy_arguments(p, quantize_default=())
    g.add_argument("--export-dir", default=None, help="where --quantize/--prune files go (default tflite_models/<model>)")
    return p


def parse_args(argv=None) -> tuple[RunConfig, argparse.Namespace]:
    p = build_parser()
    a = p.parse_args(argv)
    if a.resume:  # --recipe with --resume is a conflict (a resumed run keeps its recipe)
        return check_ranges(p, resumed_config(p, a)), a
    recipe = None
    if a.recipe and not a.list_recipes:
        recipe, a = apply_recipe(p, a, argv)

    check_model_name(p, a)
    bad = [s for s in a.model_arg if "=" not in s or not s.split("=", 1)[0].isidentifier()]
    if bad:
        p.error(f"--model-arg expects KEY=VALUE, got {bad[0]!r}")
    model_args = {k: literal_or_text(v) for k, v in (s.split("=", 1) for s in a.model_arg)}
    loss_args = parse_loss_args(p, a.loss, a.loss_arg)
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
    if a.encoder_weights is not None and a.encoder is None:
        takes = [n for n in zoo.list_models() if zoo.models.registry.has_pretrained_encoder(n)]
        if a.model not in takes:
            p.error(f"--encoder-weights: model {a.model} has no pretrained encoder (models with one: {', '.join(takes)})")
        # a missing file is reported when the model is built (check_model_and_batch), naming the file to fetch
    fields = {f.name for f in dataclasses.fields(RunConfig)}
    cfg = RunConfig(**{**{k: v for k, v in vars(a).items() if k in fields}, "model_args": model_args,
                       "image_size": size, "recipe": None, "loss_args": loss_args,
                       "input_normalization": model_info(a.model, a.encoder).get("input_normalization")})
    if recipe is not None:
        cfg = dataclasses.replace(cfg, recipe=recipe_record(recipe, cfg))
    return check_ranges(p, cfg), a


def check_model_name(p: argparse.ArgumentParser, a: argparse.Namespace) -> None:
    """--model is a registered model, or with --encoder a decoder; --encoder a catalogued encoder (one-line errors)."""
    from zoo.models import decoders
    from zoo.models.encoders import catalog

    if a.encoder is not None and not catalog.is_available(a.encoder):
        p.error(f"--encoder: {catalog.unknown_encoder_message(a.encoder)}")
    listing = a.list_models and a.encoders
    if listing and a.model == p.get_default("model"):  # --list-models --encoders: every decoder
        return
    if a.encoder is not None or listing:
        if a.model not in decoders.DECODERS:
            p.error(f"--model with --encoder: {decoders.unknown_decoder_message(a.model)}")
    elif a.model not in zoo.list_models():
        hint = f" ({a.model!r} is a decoder: add --encoder NAME)" if a.model in decoders.DECODERS else ""
        p.error(zoo.models.registry.unknown_model_message(a.model) + hint)


def model_info(model: str, encoder: str | None) -> dict:
    """Registry info of a model, or of the `model` (decoder) x `encoder` pair (empty when neither: listing only)."""
    from zoo.models import decoders
    from zoo.models.segmentation import pair_info

    if encoder and model in decoders.DECODERS:
        return pair_info(encoder, model)
    return zoo.get_model_info(model) if model in zoo.list_models() else {}


def run_model_name(cfg: RunConfig | dict) -> str:
    """The model's name in run folders and exports: the registry name, or `<decoder>_<encoder>` for a pair."""
    from zoo.models.segmentation import pair_name

    cfg = cfg if isinstance(cfg, dict) else dataclasses.asdict(cfg)
    return pair_name(cfg["encoder"], cfg["model"]) if cfg.get("encoder") else cfg["model"]


def load_recipe(name: str, parser: argparse.ArgumentParser | None = None):
    """A recipe checked against this train.py (flags, types, choices, model registry, loss catalogue,
    ranges); raises RecipeError (one line naming the file and the key) or ValueError (unknown name)."""
    from zoo.tools import recipes

    parser = parser or build_parser()
    recipe = recipes.read_recipe(name)
    problems = recipes.recipe_problems(recipe, parser, RunConfig, range_check=lambda cfg: check_ranges(_Raise(), cfg))
    if problems:
        raise problems[0]
    return recipe


class _Raise:
    """Stands in for the parser in `check_ranges`: its errors become ValueError."""

    def error(self, message):
        raise ValueError(message)


def apply_recipe(p: argparse.ArgumentParser, a: argparse.Namespace, argv):
    """Parse again with the recipe's values as defaults, so that every flag given wins; settings bound to
    the model (model_args, encoder_weights) or loss (loss_args) apply only while those keep the recipe's."""
    from zoo.tools import recipes

    try:
        recipe = load_recipe(a.recipe, p)
    except ValueError as e:
        p.error(f"--recipe: {e}")
    try:
        data = str(recipes.dataset_path(recipe))
    except recipes.RecipeError as e:
        data, missing = None, str(e)
    p.set_defaults(**recipes.as_flag_defaults(recipe), data=data)
    a = p.parse_args(argv)
    if a.data is None:
        p.error(missing)
    bound, dropped = recipes.bound_flags(recipe, a)
    for dest, value in bound.items():
        setattr(a, dest, value)
    for note in dropped:
        print(f"recipe {recipe.name}: not using its {note}", file=sys.stderr)
    return recipe, a


def recipe_record(recipe, cfg: RunConfig) -> dict:
    """What config.json keeps of a recipe: its name and file, its values (data resolved) and the
    settings the flags changed, with the values the run used."""
    from zoo.tools import recipes

    values = recipe.values()
    if "image_size" in values:
        size = values["image_size"]
        values["image_size"] = [size, size] if isinstance(size, int) else list(size)
    try:
        values["data"] = str(recipes.dataset_path(recipe))
    except recipes.RecipeError:
        values["data"] = None
    used = json.loads(json.dumps(dataclasses.asdict(cfg)))  # tuples as lists, as config.json has them
    overridden = {k: used.get(k) for k, v in values.items() if used.get(k) != v}
    return {"name": recipe.name, "file": recipes.display_path(recipe.path), "values": values, "overridden": overridden}


def list_recipes_table() -> str:
    """One row per recipe; recipes this checkout cannot run yet say why."""
    from zoo.tools import recipes

    rows = [f"{'recipe':24s}{'model':28s}{'loss':14s}{'dataset (../shared/data)':26s}paper"]
    parser = build_parser()
    for name in recipes.list_recipes():
        try:
            rows.append(recipes.summary_line(load_recipe(name, parser)))
        except ValueError as e:
            rows.append(f"{name:24s}not runnable here: {e}")
    return "\n".join(rows) + "\nrun one with: python train.py --recipe NAME [flags that override it]"


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


def check_ranges(p: argparse.ArgumentParser, cfg: RunConfig) -> RunConfig:
    """Numbers that cannot work are argument errors before anything is read or written."""
    if (cfg.prefetch is not None and cfg.prefetch < 0) or (cfg.decode_workers is not None and cfg.decode_workers < 1):
        p.error(f"--prefetch must be 0 or more and --decode-workers 1 or more, got {cfg.prefetch} and {cfg.decode_workers}")
    if cfg.epochs < 1 or cfg.batch_size < 1:
        p.error(f"--epochs and --batch-size must be at least 1, got {cfg.epochs} and {cfg.batch_size}")
    if cfg.width <= 0:
        p.error(f"--width must be positive, got {cfg.width:g}")
    if not 0 <= cfg.mask_threshold < 1:
        p.error(f"--mask-threshold is a fraction of full scale in [0, 1), got {cfg.mask_threshold:g}")
    if cfg.folds == 1 or cfg.folds < 0:
        p.error(f"--folds needs 2 or more folds (0 = one train/val/test split), got {cfg.folds}")
    if not (0 <= cfg.val_fraction < 1 and 0 <= cfg.test_fraction < 1):
        p.error(f"--val-fraction and --test-fraction must be in [0, 1), got {cfg.val_fraction:g} and {cfg.test_fraction:g}")
    if not cfg.folds and cfg.val_fraction + cfg.test_fraction >= 1:
        p.error(f"--val-fraction {cfg.val_fraction:g} plus --test-fraction {cfg.test_fraction:g} leaves no training data")
    return cfg


def resumed_config(p: argparse.ArgumentParser, a: argparse.Namespace) -> RunConfig:
    """The config of the run in `--resume RUN_DIR`; flags that would change what the run is conflict with it."""
    path = Path(a.resume) / "config.json"
    if not path.is_file():
        p.error(f"--resume {a.resume}: no config.json there (not a train.py run folder)")
    try:
        cfg = RunConfig.from_json(path)
    except (ValueError, TypeError) as e:
        p.error(f"{path}: unreadable run config ({e.__class__.__name__}: {e})")
    given = [k for k, v in vars(a).items() if v != p.get_default(k)]
    run_flags = {f.name for f in dataclasses.fields(RunConfig)} | {"model_arg", "loss_arg", "image_size", "overwrite"}
    conflicts = [k for k in given if k in run_flags and k not in RESUME_MAY_CHANGE]
    if conflicts:
        flag = {"augment": "--no-augment"}.get(conflicts[0], "--" + conflicts[0].replace("_", "-"))
        p.error(f"{flag} conflicts with --resume: a resumed run keeps the settings in {path} "
                "(start a new run to change them)")
    return dataclasses.replace(cfg, **{k: getattr(a, k) for k in RESUME_MAY_CHANGE if k in given})


def list_models_table() -> str:
    """Name, parameters, FLOPs and MACs at the paper's input size, beside the paper's figures."""
    import numpy as np
    import tf_keras as keras

    from zoo.models.complexity import count_flops, count_macs

    rows = [f"{'model':28s}{'input':>12s}{'params':>11s}{'trainable':>11s}{'paper':>11s}{'FLOPs':>9s}{'paper':>9s}"
            f"{'MACs':>9s}{'paper':>9s}"]
    for name in zoo.list_models():
        info = zoo.get_model_info(name)
        shape = info.get("input_shape", (512, 512, 3))
        m = zoo.build_model(name, input_shape=shape)
        trainable = int(sum(np.prod(w.shape) for w in m.trainable_weights))
        paper_p = f"{info['params'] / 1e6:.4f}M" if "params" in info else "-"
        paper_f = f"{info['flops'] / 1e9:.1f}B" if "flops" in info else "-"
        paper_m = f"{info['macs'] / 1e9:.3f}G" if "macs" in info else "-"
        rows.append(f"{name:28s}{'x'.join(map(str, shape)):>12s}{m.count_params() / 1e6:>10.4f}M"
                    f"{trainable / 1e6:>10.4f}M{paper_p:>11s}{count_flops(m) / 1e9:>8.1f}B{paper_f:>9s}"
                    f"{count_macs(m) / 1e9:>8.3f}G{paper_m:>9s}")
        keras.backend.clear_session()
    return "\n".join(rows) + ("\nparams: all weights incl. BatchNorm statistics; trainable: what PyTorch papers count. "
                              "FLOPs count multiplications and additions separately (paper 002); MACs count conv and "
                              "dense multiply-accumulates (papers 000, 003, 004 call these 'GFLOPs').")


class UsageError(ValueError):
    """Settings that cannot work with this data or model (one line; exit code 2, like argument errors)."""


def check_data(cfg: RunConfig) -> list:
    """Check every image/mask pair before training; print one line per skipped pair; return the usable pairs."""
    from zoo.training import data, validate

    dcfg = data.DataConfig(cfg.image_size, cfg.channels, cfg.mask_threshold, cfg.mask_invert, cfg.fit,
                           cfg.input_normalization)
    report = validate.validate_dataset(cfg.data, dcfg, strict=cfg.strict)
    for problem in report.problems:
        print(f"skipped {problem}", file=sys.stderr)
    print(report.summary())
    return report.pairs


def make_splits(cfg: RunConfig, pairs) -> dict:
    """{"": (train, val, test)}, or one entry per fold ("fold0", ...) with --folds; deterministic from --seed."""
    from zoo.training import data

    if not cfg.folds:
        return {"": data.split_pairs(pairs, val_fraction=cfg.val_fraction, test_fraction=cfg.test_fraction,
                                     seed=cfg.seed)}
    if cfg.folds > len(pairs):
        raise UsageError(f"--folds {cfg.folds} is more than the {len(pairs)} usable pairs in {cfg.data}")
    folds = [cfg.fold] if cfg.fold is not None else range(cfg.folds)
    return {f"fold{k}": data.kfold_pairs(pairs, folds=cfg.folds, fold=k, val_fraction=cfg.val_fraction, seed=cfg.seed)
            for k in folds}


def check_model_and_batch(cfg: RunConfig, splits: dict) -> None:
    """The batch fits the training split, and the model builds at this input size with these arguments."""
    import tf_keras as keras

    smallest = min(len(train) for train, _, _ in splits.values())
    if cfg.batch_size > smallest:
        raise UsageError(f"--batch-size {cfg.batch_size} is larger than the {smallest} training pairs of {cfg.data}; "
                         f"lower --batch-size")
    from zoo.models.pretrained import WeightsNotFound

    try:
        zoo.build_model(cfg.model, input_shape=(*cfg.image_size, cfg.channels), width=cfg.width, **model_kwargs(cfg))
    except WeightsNotFound as e:
        raise UsageError(f"--encoder-weights: {e}") from None
    except (ValueError, TypeError) as e:
        if "stride" in str(e):
            raise UsageError(f"--image-size: {e}") from None
        if cfg.encoder_weights and "ImageNet" in str(e):
            raise UsageError(f"--encoder-weights: {e}") from None
        given = " ".join(f"{k}={v!r}" for k, v in cfg.model_args.items()) or "(none)"
        raise UsageError(f"cannot build {run_model_name(cfg)} with --width {cfg.width:g} and --model-arg {given}: "
                         f"{' '.join(str(e).split())}") from None
    finally:
        keras.backend.clear_session()


def model_kwargs(cfg: RunConfig) -> dict:
    """Builder arguments of the run: --model-arg values, plus --encoder-weights and --encoder when given."""
    return (cfg.model_args | ({"encoder_weights": cfg.encoder_weights} if cfg.encoder_weights else {})
            | ({"encoder": cfg.encoder} if cfg.encoder else {}))


def prepare_run_dir(cfg: RunConfig, args, pairs) -> Path:
    """The run folder with config.json and pairs.json (the usable pairs, which fix the splits) written
    atomically; an existing folder only with --resume (same pairs required) or --overwrite."""
    from zoo import files

    names = [[img.name, mask.name] for img, mask in pairs]
    if args.resume:
        run_dir = Path(args.resume)
        if (run_dir / "pairs.json").is_file():
            then = json.loads((run_dir / "pairs.json").read_text())
            if then != names:
                raise UsageError(f"{cfg.data}: the usable pairs changed since {run_dir} started ({len(then)} then, "
                                 f"{len(names)} now), so its train/val/test split would change; restore the data "
                                 "or start a new run")
        files.remove_partial_files(run_dir)  # temporary files of a killed process
    else:
        run_dir = Path(cfg.output) / (cfg.name or f"{run_model_name(cfg)}-{time.strftime('%Y%m%d-%H%M%S')}")
        if run_dir.exists() and not args.overwrite:
            raise UsageError(f"{run_dir}: run folder already exists; continue it with --resume {run_dir}, "
                             "choose another --name, or replace it with --overwrite")
        if run_dir.exists():
            if not (run_dir / "config.json").is_file():
                raise UsageError(f"{run_dir}: not a train.py run folder (no config.json); --overwrite only replaces runs")
            shutil.rmtree(run_dir)
        run_dir.mkdir(parents=True)
        files.atomic_write_text(run_dir / "pairs.json", json.dumps(names, indent=0))
    files.atomic_write_text(run_dir / "config.json", json.dumps(dataclasses.asdict(cfg), indent=2))
    return run_dir


def train_one(cfg: RunConfig, run_dir: Path, splits, strategy=None) -> dict:
    """Train one model on (train, val, test) pairs; write checkpoints, logs and metrics.json.

    Each epoch ends with a backup in `run_dir/backup`. When one is there (an interrupted run), training
    continues after that epoch with the optimizer state, learning-rate step and epoch counter restored,
    appending to history.csv and the TensorBoard logs. Under `strategy` the model is built and trained
    on every replica; with several workers only the chief writes into `run_dir` and evaluates."""
    import numpy as np
    import tensorflow as tf
    import tf_keras as keras

    from zoo.training import data, distribute, precision, loop, callbacks, faults
    from zoo import files
    from zoo.training.losses import get_loss
    from zoo.training.metrics import default_metrics

    train_pairs, val_pairs, test_pairs = splits
    done = callbacks.completed_epochs(run_dir / "backup")
    if done >= cfg.epochs and (run_dir / "metrics.json").is_file():
        print(f"{run_dir}: all {done} epochs were already done (--epochs N trains further)")
        return json.loads((run_dir / "metrics.json").read_text())
    strategy = strategy or tf.distribute.get_strategy()
    chief, out = distribute.is_chief(strategy), distribute.worker_dir(run_dir, strategy)
    # Drop an epoch logged but not backed up. Other workers read the chief's rows: every worker must make the
    # same checkpoint decisions, because saving reads replicated variables through collective ops.
    history = callbacks.trim_history(run_dir / "history.csv", done, write=chief)
    if done:
        print(f"{run_dir}: resuming after epoch {done} of {cfg.epochs}")
    keras.utils.set_random_seed(cfg.seed)
    dcfg = data.DataConfig(cfg.image_size, cfg.channels, cfg.mask_threshold, cfg.mask_invert, cfg.fit,
                           cfg.input_normalization)
    fill = data.mean_pixel(train_pairs, dcfg) if cfg.augment else 0.0
    aug = data.make_augmentation(fill) if cfg.augment else None
    batch = cfg.batch_size  # main() checked that it fits the training split
    cache_dir = out / "cache"  # --cache disk; rebuilt by each process (a killed one leaves lock files)
    shutil.rmtree(cache_dir, ignore_errors=True)
    pipeline = {"prefetch": cfg.prefetch, "decode_workers": cfg.decode_workers}
    cache = {"train": cfg.cache, "val": cfg.cache} if cfg.cache != "disk" else \
        {"train": str(cache_dir / "train"), "val": str(cache_dir / "val")}
    train_ds = distribute.shard_by_data(data.make_dataset(
        train_pairs, dcfg, batch_size=batch, augment=aug, shuffle=True, seed=cfg.seed, cache=cache["train"], **pipeline))
    val_ds = distribute.shard_by_data(data.make_dataset(
        val_pairs, dcfg, batch_size=batch, cache=cache["val"], **pipeline)) if val_pairs else None

    policy = precision.resolve_policy(cfg.mixed_precision) if cfg.mixed_precision else None
    # Variables (weights, optimizer slots, metric counts) live on every replica; layers compute in `policy`.
    with strategy.scope(), precision.global_policy(policy):
        model = zoo.build_model(cfg.model, input_shape=(*cfg.image_size, cfg.channels), width=cfg.width,
                                **model_kwargs(cfg))
        steps = cfg.epochs * int(np.ceil(len(train_pairs) / batch))  # batch is global: one step per global batch
        lr = loop.make_learning_rate(cfg.lr, cfg.lr_schedule, steps)
        model.compile(optimizer=loop.make_optimizer(cfg.optimizer, lr), loss=get_loss(cfg.loss, **cfg.loss_args),
                      metrics=default_metrics(), jit_compile=cfg.jit_compile)

    monitor = "val_dice" if val_ds is not None else "dice"
    tb_dir = out / "tb"
    run_callbacks = [
        callbacks.StopOnNonFiniteLoss(out / "last.keras"),  # first: stops before anything saves broken weights
        callbacks.LearningRateLogger(),
        keras.callbacks.TensorBoard(str(tb_dir), histogram_freq=cfg.histogram_freq, write_graph=True),
        callbacks.AtomicModelCheckpoint(str(out / "best.keras"), monitor=monitor, mode="max", save_best_only=True,
                                       initial_value_threshold=callbacks.best_in_history(history, monitor)),
        callbacks.AtomicModelCheckpoint(str(out / "last.keras")),
        keras.callbacks.CSVLogger(str(out / "history.csv"), append=True),
    ]
    preview = val_pairs or train_pairs
    if preview:
        x, y = data.load_arrays(preview[:4], dcfg)
        run_callbacks.append(callbacks.PredictionImages(str(tb_dir / "images"), x, y, inputs=data.normalize(x, dcfg)))
    # last: an epoch counts once its files are written. All workers share run_dir/backup (Keras keeps
    # non-chief copies in backup/workertemp_*), so a restarted cluster resumes from the same epoch.
    run_callbacks.append(callbacks.make_backup(run_dir / "backup"))
    with faults.out_of_memory_hint(batch, cfg.image_size, cfg.width), faults.xla_failure_hint(cfg.jit_compile, cfg.model):
        model.fit(train_ds, validation_data=val_ds, epochs=cfg.epochs, callbacks=run_callbacks,
                  verbose=1 if sys.stdout.isatty() else 2)
        shutil.rmtree(cache_dir, ignore_errors=True)
        if not chief:  # its logs and checkpoints were scratch copies
            shutil.rmtree(out, ignore_errors=True)
            keras.backend.clear_session()
            return {}

        best = files.load_model(run_dir / "best.keras", compile=False) if (run_dir / "best.keras").exists() else model
        eval_pairs, eval_split = (test_pairs, "test") if test_pairs else (val_pairs, "val")
        metrics = {"split": eval_split, "images": len(eval_pairs), "train_images": len(train_pairs),
                   "val_images": len(val_pairs), "params": int(model.count_params()), "precision": policy or "float32"}
        if eval_pairs:
            metrics.update(loop.evaluate_at_original_size(best, eval_pairs, dcfg,
                                                                    per_image_csv=run_dir / "per_image.csv"))
    files.atomic_write_text(run_dir / "metrics.json", json.dumps(metrics, indent=2))
    keras.backend.clear_session()  # free the graph before the next fold
    return metrics


def train_all(cfg: RunConfig, run_dir: Path, splits: dict, strategy=None) -> dict:
    """Train the single split, or each fold in its own folder plus a mean over folds; returns the headline
    metrics (empty on a non-chief worker)."""
    from zoo.training import distribute
    from zoo import files

    if "" in splits:
        return train_one(cfg, run_dir, splits[""], strategy)
    results = {}
    for name, split in splits.items():
        (run_dir / name).mkdir(exist_ok=True)
        results[name] = train_one(cfg, run_dir / name, split, strategy)
    if not distribute.is_chief(strategy):
        return {}
    keys = [k for k, v in next(iter(results.values())).items() if isinstance(v, float)]
    results["mean"] = {k: sum(r[k] for r in results.values()) / len(splits) for k in keys}
    files.atomic_write_text(run_dir / "metrics.json", json.dumps(results, indent=2))
    return results["mean"]


def main(argv=None) -> int:
    cfg, args = parse_args(argv)
    if args.list_models and args.encoders:
        from zoo.models import decoders
        from zoo.tools import matrix

        print(matrix.matrix_table((*cfg.image_size, cfg.channels), [cfg.encoder] if cfg.encoder else None,
                                  [cfg.model] if cfg.model in decoders.DECODERS else None))
        return 0
    if args.list_models:
        print(list_models_table())
        return 0
    if args.list_recipes:
        print(list_recipes_table())
        return 0
    if cfg.recipe and not args.resume:
        changed = ", ".join(f"{k}={v}" for k, v in cfg.recipe["overridden"].items()) or "nothing"
        print(f"recipe {cfg.recipe['name']} ({cfg.recipe['file']}); changed by flags: {changed}")
    from zoo.training import data, distribute, faults
    from zoo import files

    try:  # everything that can be wrong with the arguments or the data, before the run folder is touched
        strategy = distribute.make_strategy(cfg.strategy)  # first: MultiWorkerMirroredStrategy must precede other ops
        chief = distribute.is_chief(strategy)
        if distribute.is_multiworker(strategy) and not (cfg.name or args.resume):
            raise UsageError("--strategy multiworker needs --name (or --resume) so that all workers share one run folder")
        pairs = check_data(cfg)
        splits = make_splits(cfg, pairs)
        check_model_and_batch(cfg, splits)
        if chief:
            run_dir = prepare_run_dir(cfg, args, pairs)
        else:
            run_dir = Path(args.resume or Path(cfg.output) / cfg.name)
            distribute.wait_for_chief(run_dir / "config.json")
    except (data.DataError, UsageError, distribute.StrategyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"training with {distribute.describe(strategy)}")
    try:
        final = train_all(cfg, run_dir, splits, strategy)
    except (faults.TrainingFault, files.ModelFileError) as e:
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
    if not chief:
        print(f"worker done; the chief wrote the run to {run_dir}")
        return 0

    if args.quantize or args.prune or args.mcu_ram:  # --mcu-ram: tiled INT8 export (deploy/tiling.py)
        export_for_deployment(args, run_dir)
    if args.analyze:
        from zoo.tools.histograms import analyze_run

        print(f"kernel-histogram report (which stages learn) in {analyze_run(run_dir)}")
    print_summary(cfg, run_dir, final, len(pairs))
    return 0


def export_for_deployment(args, run_dir: Path) -> Path:
    """Compress and export the run's best model (first fold with --folds); the report lands beside the files."""
    from deploy.options import options_from_args
    from deploy.pipeline import deploy_saved_model

    cfg = json.loads((run_dir / "config.json").read_text())
    fold_dir = run_dir if (run_dir / "best.keras").exists() else sorted(run_dir.glob("fold*"))[0]
    out = Path(args.export_dir) if args.export_dir else ROOT / "tflite_models" / run_model_name(cfg)
    deploy_saved_model(fold_dir / "best.keras", cfg, options_from_args(args), out)
    print(f"deployment files and report.md in {out}")
    return out


def print_summary(cfg: RunConfig, run_dir: Path, metrics: dict, n_pairs: int) -> None:
    """One screen: what ran, where everything is, the headline scores, how to open TensorBoard."""
    print("\n" + "=" * 72)
    print(f"model {run_model_name(cfg)} trained {cfg.epochs} epochs on {n_pairs} pairs from {cfg.data}")
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
