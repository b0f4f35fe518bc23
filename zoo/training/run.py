"""The run record: what a training run decided, written once and loaded by every later command.

A run folder holds `config.json` (a `RunConfig`) and `split.json` (the train / val / test file names, per
fold with `--folds`), both written before training starts. `Run.load(folder)` gives the config, the
split, the data config (input size, fit, mask reading, input normalisation) and the model files, so
train.py's `--resume`, `python -m deploy RUN`, the histogram tool and the benchmarks all read the same
record and none re-derives a default. A hand-edited or truncated record is a one-line `RunError` naming
the file and the key. Runs recorded before `split.json` existed are rebuilt from their `pairs.json` (the
pairs training used) and the seed, and say so in `Run.split_note`.
"""
from __future__ import annotations

import dataclasses
import json
import math
import typing
from pathlib import Path

from zoo.files import atomic_write_text
from zoo.training import data
from zoo.training.data import MAX_PIXELS

SPLIT_FILE, CONFIG_FILE, PAIRS_FILE, LOCK_FILE = "split.json", "config.json", "pairs.json", "run.lock"
SPLIT_NAMES = ("train", "val", "test")


class RunError(ValueError):
    """A run record that is missing, unreadable or inconsistent; the message is one line naming file and key."""


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything a run depends on; `config.json` of the run folder. Defaults are the CLI's defaults."""

    model: str = "half_multiresunet"  # a registry name; encoder x decoder pairs are `<decoder>_<encoder>`
    model_args: dict = dataclasses.field(default_factory=dict)
    width: float = 1.0
    encoder_weights: str | None = None  # "imagenet" or a path, for models with a pretrained encoder
    input_normalization: dict | None = None  # (x - mean) / std fed to the model; from its registry entry
    data: str = str(Path(__file__).resolve().parents[2] / "data" / "sample_microplastics")
    mask_invert: bool = False
    mask_threshold: float = 0.5
    strict: bool = False
    max_pixels: int = MAX_PIXELS  # larger image or mask files are skipped (0: no limit)
    image_size: tuple = (256, 256)
    channels: int = 3
    fit: str = "resize"
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    test_data: str | None = None  # another dataset folder whose usable pairs all form the test split
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
    histograms: str = "kernels"  # weight histograms: "kernels" (conv and dense kernels) or "all" weights
    strategy: str = "auto"
    mixed_precision: str | None = None
    jit_compile: bool = False
    cache: str = "memory"
    prefetch: int | None = None
    decode_workers: int | None = None
    output: str = "runs"
    name: str | None = None
    recipe: dict | None = None  # {"name", "file", "values" (resolved), "overridden" (by flags)}

    # --- reading and writing ---------------------------------------------------------------------

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2)

    @classmethod
    def from_dict(cls, saved, source: str = "config") -> "RunConfig":
        """A config from its JSON form, every field type-checked (`RunError` naming the key otherwise).
        Keys this version does not know are ignored; keys it added since get their defaults."""
        if not isinstance(saved, dict):
            raise RunError(f"{source}: expected a JSON object of settings, got {type(saved).__name__}")
        saved = dict(saved)
        encoder = saved.pop("encoder", None)  # older runs: --model DECODER --encoder NAME
        if encoder is not None:
            if not isinstance(encoder, str) or not isinstance(saved.get("model"), str):
                raise RunError(f"{source}: key 'encoder': expected a string, got {encoder!r}")
            saved["model"] = f"{saved['model']}_{encoder}"
        hints = typing.get_type_hints(cls)
        values = {}
        for f in dataclasses.fields(cls):
            if f.name in saved:
                values[f.name] = _checked(f.name, saved[f.name], hints[f.name], source)
        return cls(**values)

    @classmethod
    def from_json(cls, path) -> "RunConfig":
        """The config a run saved; a missing, truncated or hand-broken file is one `RunError` line."""
        path = Path(path)
        try:
            saved = json.loads(path.read_text())
        except FileNotFoundError:
            raise RunError(f"{path}: not found (not a train.py run folder)") from None
        except (OSError, UnicodeDecodeError) as e:
            raise RunError(f"{path}: cannot read ({e.__class__.__name__}: {e})") from None
        except json.JSONDecodeError as e:
            raise RunError(f"{path}: not valid JSON (truncated or edited?): {e.msg} at line {e.lineno}") from None
        cfg = cls.from_dict(saved, str(path))
        try:
            cfg.check()
        except ValueError as e:
            raise RunError(f"{path}: {e}") from None
        return cfg

    # --- what it means ---------------------------------------------------------------------------

    def check(self) -> "RunConfig":
        """Names and numbers that cannot work raise one-line `ValueError`s (flags named as on the CLI)."""
        from zoo.models.registry import unknown_model_message, list_models
        from zoo.training.distribute import STRATEGIES
        from zoo.training.loop import LR_SCHEDULES, OPTIMIZERS
        from zoo.training.losses import LOSSES
        from zoo.training.precision import POLICIES

        if self.model not in list_models():
            raise ValueError(f"--model: {unknown_model_message(self.model)}")
        for flag, value, known in (("--loss", self.loss, LOSSES), ("--optimizer", self.optimizer, OPTIMIZERS),
                                   ("--lr-schedule", self.lr_schedule, LR_SCHEDULES), ("--fit", self.fit, ("resize", "pad")),
                                   ("--strategy", self.strategy, STRATEGIES), ("--cache", self.cache, ("memory", "disk", "none")),
                                   ("--channels", self.channels, (1, 3)), ("--histograms", self.histograms, ("kernels", "all"))):
            if value not in known:
                raise ValueError(f"{flag}: unknown value {value!r}; choose from {', '.join(map(str, known))}")
        if self.mixed_precision is not None and self.mixed_precision not in POLICIES:
            raise ValueError(f"--mixed-precision: unknown policy {self.mixed_precision!r}; choose from {', '.join(POLICIES)}")
        if (self.prefetch is not None and self.prefetch < 0) or (self.decode_workers is not None and self.decode_workers < 1):
            raise ValueError(f"--prefetch must be 0 or more and --decode-workers 1 or more, got {self.prefetch} and "
                             f"{self.decode_workers}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"--epochs and --batch-size must be at least 1, got {self.epochs} and {self.batch_size}")
        if not 0 < self.lr < math.inf:
            raise ValueError(f"--lr must be a positive finite number, got {self.lr:g}")
        if self.width <= 0:
            raise ValueError(f"--width must be positive, got {self.width:g}")
        if min(self.image_size) < 1:
            raise ValueError(f"--image-size must be positive, got {self.image_size}")
        if self.max_pixels < 0:
            raise ValueError(f"--max-pixels must be 0 (no limit) or more, got {self.max_pixels}")
        if self.seed < 0 or self.histogram_freq < 0:
            raise ValueError(f"--seed and --histogram-freq must be 0 or more, got {self.seed} and {self.histogram_freq}")
        if not 0 <= self.mask_threshold < 1:
            raise ValueError(f"--mask-threshold is a fraction of full scale in [0, 1), got {self.mask_threshold:g}")
        if self.folds == 1 or self.folds < 0:
            raise ValueError(f"--folds needs 2 or more folds (0 = one train/val/test split), got {self.folds}")
        if self.fold is not None and not 0 <= self.fold < max(self.folds, 1):
            raise ValueError(f"--fold {self.fold} needs --folds greater than {self.fold}")
        if not (0 <= self.val_fraction < 1 and 0 <= self.test_fraction < 1):
            raise ValueError(f"--val-fraction and --test-fraction must be in [0, 1), got {self.val_fraction:g} and "
                             f"{self.test_fraction:g}")
        if self.name is not None and (not self.name or Path(self.name).name != self.name or self.name in (".", "..")):
            raise ValueError(f"--name is a folder name inside --output (no '/' or '..'), got {self.name!r}")
        if self.test_data is not None and self.folds:
            raise ValueError("--test-data gives one fixed test set; it does not combine with --folds")
        if not self.folds and self.val_fraction + self.test_fraction >= 1 and self.test_data is None:
            raise ValueError(f"--val-fraction {self.val_fraction:g} plus --test-fraction {self.test_fraction:g} "
                             "leaves no training data")
        return self

    def data_config(self) -> data.DataConfig:
        """How this run turns files into model inputs (size, fit, mask reading, input normalisation)."""
        return data.DataConfig(tuple(self.image_size), self.channels, self.mask_threshold, self.mask_invert, self.fit,
                               self.input_normalization, self.max_pixels)

    def input_shape(self) -> tuple:
        return (*self.image_size, self.channels)

    def model_kwargs(self) -> dict:
        """Builder arguments of the run: --model-arg values, plus --encoder-weights when given."""
        return self.model_args | ({"encoder_weights": self.encoder_weights} if self.encoder_weights else {})

    def build_model(self, *, pretrained: bool = True, **overrides):
        """The run's model, freshly built: ImageNet-initialised encoder when the run asked for one and
        `pretrained`, otherwise random weights (shapes and initializers only)."""
        import zoo

        kwargs = self.model_kwargs() if pretrained else dict(self.model_args)
        return zoo.build_model(self.model, **{"input_shape": self.input_shape(), "width": self.width, **kwargs,
                                              **overrides})

    def make_splits(self, pairs, test_pairs=()) -> dict:
        """{"": Split} or one Split per fold ("fold0", ...) of `pairs`; deterministic from the seed. With
        `test_data`, `pairs` give train and val only and `test_pairs` (that folder's usable pairs) are the test."""
        if self.test_data is not None:
            train, val, _ = data.split_pairs(pairs, val_fraction=self.val_fraction, test_fraction=0, seed=self.seed)
            return {"": Split(train, val, list(test_pairs))}
        if not self.folds:
            return {"": Split(*data.split_pairs(pairs, val_fraction=self.val_fraction, test_fraction=self.test_fraction,
                                                seed=self.seed))}
        if self.folds > len(pairs):
            raise ValueError(f"--folds {self.folds} is more than the {len(pairs)} usable pairs in {self.data}")
        folds = [self.fold] if self.fold is not None else range(self.folds)
        return {f"fold{k}": Split(*data.kfold_pairs(pairs, folds=self.folds, fold=k, val_fraction=self.val_fraction,
                                                    seed=self.seed)) for k in folds}


def _checked(key: str, value, hint, source: str):
    """`value` as field `key` of type `hint` wants it (lists become tuples for sizes); `RunError` otherwise."""
    def bad(expected: str):
        shown = json.dumps(value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        return RunError(f"{source}: key {key!r}: expected {expected}, got {shown}")

    args = typing.get_args(hint)
    if type(None) in args:
        if value is None:
            return None
        hint = next(a for a in args if a is not type(None))
    if hint is bool:
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an integer")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise bad("a finite number")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise bad("a string")
        return value
    if hint is dict:
        if not isinstance(value, dict):
            raise bad("an object")
        return value
    if hint is tuple:  # image_size
        if not isinstance(value, (list, tuple)) or len(value) != 2 or \
                not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value):
            raise bad("[height, width] in pixels")
        return tuple(value)
    raise TypeError(f"no check for {key}: {hint}")  # a field added without a check is a bug, not bad input


@dataclasses.dataclass(frozen=True)
class Split:
    """(image, mask) path pairs of one train / val / test split."""

    train: list
    val: list
    test: list

    def __iter__(self):  # unpacks as (train, val, test)
        return iter((self.train, self.val, self.test))

    def evaluation(self) -> tuple[str, list]:
        """The held-out part a run is scored on: ("test", pairs), or ("val", pairs) when there is no test part."""
        return ("test", self.test) if self.test else ("val", self.val)


def _names(pairs) -> list:
    return [[Path(i).name, Path(m).name] for i, m in pairs]


def write_split(run_dir, splits: dict) -> Path:
    """Record the split as file names (`split.json`): {fold or "": {"train": [[image, mask], ...], ...}}."""
    record = {"format": 1, "splits": {k: {n: _names(getattr(s, n)) for n in SPLIT_NAMES} for k, s in splits.items()}}
    path = Path(run_dir) / SPLIT_FILE
    atomic_write_text(path, json.dumps(record, indent=1))
    return path


def read_split(run_dir, data_root, test_root=None) -> dict:
    """The recorded split of a run as paths under `data_root` (the test part under `test_root` when given: a
    run with `test_data`); `RunError` naming the file for anything wrong."""
    path = Path(run_dir) / SPLIT_FILE
    try:
        record = json.loads(path.read_text())
        splits = record["splits"]
        assert isinstance(splits, dict) and splits
        out = {}
        for key, parts in splits.items():
            out[key] = Split(*[[_pair_paths(test_root if n == "test" and test_root else data_root, p) for p in parts[n]]
                               for n in SPLIT_NAMES])
    except json.JSONDecodeError as e:
        raise RunError(f"{path}: not valid JSON (truncated or edited?): {e.msg} at line {e.lineno}") from None
    except (KeyError, TypeError, ValueError, AssertionError):
        raise RunError(f"{path}: not a split record (expected {{\"splits\": {{fold: {{train, val, test: "
                       f"[[image, mask], ...]}}}}}})") from None
    return out


def _pair_paths(root, names) -> tuple[Path, Path]:
    image, mask = names  # ValueError / TypeError for anything but two names
    if not (isinstance(image, str) and isinstance(mask, str)):
        raise TypeError(names)
    return Path(root) / "images" / image, Path(root) / "masks" / mask


@dataclasses.dataclass(frozen=True)
class Run:
    """A run folder as recorded: `config`, `splits` ({"" or "foldK": Split}), and where its files are."""

    path: Path
    config: RunConfig
    splits: dict
    split_note: str | None = None  # set when the split was rebuilt (runs recorded before split.json)

    @classmethod
    def load(cls, path, data_root=None) -> "Run":
        """Read a run folder. `data_root` looks the recorded file names up in another folder (a moved
        dataset); by default the config's `data`. The test files of a run with `test_data` are read from that
        folder. Raises `RunError` (one line) for a broken record."""
        path = Path(path)
        if not path.is_dir():
            raise RunError(f"{path}: run folder not found")
        config = RunConfig.from_json(path / CONFIG_FILE)
        root = Path(data_root or config.data)
        if (path / SPLIT_FILE).is_file():
            return cls(path, config, read_split(path, root, config.test_data))
        splits, note = _rebuilt_splits(path, config, root)
        return cls(path, config, splits, note)

    def data_config(self) -> data.DataConfig:
        return self.config.data_config()

    def fold_dirs(self) -> dict:
        """{split key: the folder its checkpoints are in} ("" -> the run folder, "fold0" -> run/fold0)."""
        return {k: self.path / k if k else self.path for k in self.splits}

    def first(self) -> tuple[str, Split, Path]:
        """(key, split, folder) of the single split or of the first fold."""
        key = next(iter(self.splits))
        return key, self.splits[key], self.fold_dirs()[key]

    def model_path(self, key: str | None = None) -> Path:
        """best.keras of the split `key` (default: the single split or the first fold)."""
        folder = self.fold_dirs()[key] if key is not None else self.first()[2]
        return folder / "best.keras"

    def missing_files(self) -> list[Path]:
        """Recorded image or mask files that are gone."""
        return [p for s in self.splits.values() for part in s for pair in part for p in pair if not p.is_file()]

    def check_files(self) -> "Run":
        """`RunError` naming the first recorded file that is gone (and how many are)."""
        missing = self.missing_files()
        if missing:
            more = f" and {len(missing) - 1} more recorded files" if len(missing) > 1 else ""
            raise RunError(f"{missing[0]}: recorded in {self.path / SPLIT_FILE} but gone{more}; restore the data or "
                           "pass --data with the folder it moved to")
        return self


def _rebuilt_splits(path: Path, config: RunConfig, root: Path) -> tuple[dict, str]:
    """The split of a run recorded without split.json: pairs.json (the pairs training used) and the seed."""
    pairs_file = path / PAIRS_FILE
    if pairs_file.is_file():
        try:
            pairs = [_pair_paths(root, p) for p in json.loads(pairs_file.read_text())]
        except (json.JSONDecodeError, TypeError, ValueError):
            raise RunError(f"{pairs_file}: not a list of [image, mask] file names") from None
        note = f"split rebuilt from {PAIRS_FILE} and seed {config.seed} (run recorded before {SPLIT_FILE} existed)"
    else:
        try:
            pairs = data.find_pairs(root)
        except data.DataError as e:
            raise RunError(str(e)) from None
        note = (f"split rebuilt from the files now in {root} and seed {config.seed} (run recorded without "
                f"{SPLIT_FILE} or {PAIRS_FILE}: held-out images may differ from training's)")
    try:
        return config.make_splits(pairs), note
    except (ValueError, data.DataError) as e:
        raise RunError(f"{path}: cannot rebuild the split: {e}") from None


# --- starting a run ----------------------------------------------------------------------------------

class UsageError(ValueError):
    """Settings that cannot work with this data or model (one line; train.py exits with code 2)."""


def usable_pairs(cfg: RunConfig, log=print, root=None) -> list:
    """Check every image/mask pair of `cfg.data` (or of `root`, e.g. `cfg.test_data`); log one line per skipped
    pair; return the usable pairs (`data.DataError` with `cfg.strict` at the first problem, or when none is usable)."""
    import sys

    from zoo.training import validate

    report = validate.validate_dataset(root or cfg.data, cfg.data_config(), strict=cfg.strict)
    for problem in report.problems:
        print(f"skipped {problem}", file=sys.stderr)
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    log(report.summary())
    return report.pairs


def check_batch_and_model(cfg: RunConfig, splits: dict) -> None:
    """The batch fits the smallest training split, and the model builds at this input size with these
    arguments (`UsageError` naming the flag otherwise)."""
    import tf_keras as keras

    from zoo.models.pretrained import WeightsNotFound

    smallest = min(len(s.train) for s in splits.values())
    if cfg.batch_size > smallest:
        raise UsageError(f"--batch-size {cfg.batch_size} is larger than the {smallest} training pairs of {cfg.data}; "
                         "lower --batch-size")
    try:
        check_memory(cfg, cfg.build_model())
    except WeightsNotFound as e:
        raise UsageError(f"--encoder-weights: {e}") from None
    except (ValueError, TypeError) as e:
        if "stride" in str(e):
            raise UsageError(f"--image-size: {e}") from None
        if cfg.encoder_weights and "ImageNet" in str(e):
            raise UsageError(f"--encoder-weights: {e}") from None
        given = " ".join(f"{k}={v!r}" for k, v in cfg.model_args.items()) or "(none)"
        raise UsageError(f"cannot build {cfg.model} with --width {cfg.width:g} and --model-arg {given}: "
                         f"{' '.join(str(e).split())}") from None
    finally:
        keras.backend.clear_session()


def training_memory_bytes(cfg: RunConfig, model) -> int:
    """A lower bound on training memory: weights with gradients and two Adam slots, and every layer's output
    kept for the backward pass at --batch-size (float32)."""
    import numpy as np

    activations = 0
    for layer in model.layers:
        shapes = layer.output_shape if isinstance(layer.output_shape, list) else [layer.output_shape]
        activations += sum(int(np.prod([d for d in s[1:] if d])) for s in shapes if s)
    return 4 * (4 * model.count_params() + 2 * cfg.batch_size * activations)


def available_memory_bytes() -> int | None:
    """Memory this process can still use (Linux MemAvailable), or None when unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def check_memory(cfg: RunConfig, model) -> None:
    """`UsageError` before anything is written when training cannot fit in host memory (CPU training only:
    an accelerator's memory is checked by TensorFlow itself)."""
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU") or tf.config.list_physical_devices("TPU"):
        return
    need, free = training_memory_bytes(cfg, model), available_memory_bytes()
    if free is not None and need > free:
        h, w = cfg.image_size
        raise UsageError(f"--image-size {h}x{w} at --batch-size {cfg.batch_size}: training {cfg.model} needs at least "
                         f"{need / 2**30:.1f} GiB of memory, more than the {free / 2**30:.1f} GiB available; lower "
                         "--image-size, --batch-size or --width")


def create_run(cfg: RunConfig, splits: dict, *, overwrite: bool = False) -> Run:
    """A new run folder `cfg.output/cfg.name` (or `<model>-<time>`) with config.json and split.json written
    atomically before training; an existing folder only with `overwrite`."""
    import shutil
    import time

    path = Path(cfg.output) / (cfg.name or f"{cfg.model}-{time.strftime('%Y%m%d-%H%M%S')}")
    if path.exists() and not overwrite:
        raise UsageError(f"{path}: run folder already exists; continue it with --resume {path}, "
                         "choose another --name, or replace it with --overwrite")
    if path.exists():
        if not (path / CONFIG_FILE).is_file():
            raise UsageError(f"{path}: not a train.py run folder (no config.json); --overwrite only replaces runs")
        _refuse_if_locked(path)
        shutil.rmtree(path)
    try:
        path.mkdir(parents=True)
    except FileExistsError:
        raise UsageError(f"{path}: another process created this run folder just now; choose another --name") from None
    except OSError as e:
        raise UsageError(f"--output {cfg.output}: cannot create the run folder {path} ({e.strerror})") from None
    acquire_lock(path)
    write_split(path, splits)
    atomic_write_text(path / CONFIG_FILE, cfg.to_json())
    return Run(path, cfg, splits)


def resume_run(run: Run, config: RunConfig) -> Run:
    """The loaded run `run` continued with `config` (its recorded config with the settings a resumed run may
    change), saved to its config.json; the split stays the recorded one."""
    from zoo.files import remove_partial_files

    acquire_lock(run.path)
    remove_partial_files(run.path)  # temporary files of a killed process
    if run.split_note:  # record the rebuilt split, so that later commands read the same one
        write_split(run.path, run.splits)
    atomic_write_text(run.path / CONFIG_FILE, config.to_json())
    return dataclasses.replace(run, config=config, split_note=None)


# --- one process per run folder --------------------------------------------------------------------

def _lock_holder(path) -> int | None:
    """The id of the live process holding the run folder's lock, or None (no lock, or its process is gone)."""
    import os

    try:
        pid = int((Path(path) / LOCK_FILE).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    if pid == os.getpid():
        return pid
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:  # alive, another user's
        return pid
    return pid


def _refuse_if_locked(path) -> None:
    import os

    pid = _lock_holder(path)
    if pid is not None and pid != os.getpid():
        raise UsageError(f"{path}: in use by another train.py (process {pid}); wait for it to finish or stop it")


def acquire_lock(path) -> None:
    """Mark the run folder as this process's (`run.lock` with its id); `UsageError` when a live process holds
    it. A lock left by a killed process is taken over."""
    import os

    lock = Path(path) / LOCK_FILE
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            _refuse_if_locked(path)
            lock.unlink(missing_ok=True)  # its process is gone
            continue
        except OSError as e:
            raise UsageError(f"{path}: cannot write to the run folder ({e.strerror})") from None
        with os.fdopen(fd, "w") as f:
            f.write(f"{os.getpid()}\n")
        return
    _refuse_if_locked(path)
    raise UsageError(f"{path}: another process took the run folder's lock just now")


def release_lock(path) -> None:
    """Remove this process's lock from the run folder (nothing when another process holds it)."""
    import os

    if _lock_holder(path) == os.getpid():
        (Path(path) / LOCK_FILE).unlink(missing_ok=True)
