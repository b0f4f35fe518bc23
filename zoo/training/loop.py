"""The training loop: one run's model trained on its recorded split with checkpoints, TensorBoard logs and
backups every epoch (so an interrupted run resumes), then scored at the images' original size."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf
import tf_keras as keras

from zoo.files import atomic_write_text, load_model
from zoo.training import callbacks, data, distribute, precision
from zoo.training.choices import LR_SCHEDULES
from zoo.training.data import DataConfig, fit_to_size, normalize, read_image, read_mask, restore_size
from zoo.training.faults import out_of_memory_hint, xla_failure_hint
from zoo.training.losses import get_loss
from zoo.training.metrics import THRESHOLD, default_metrics

OPTIMIZERS = {
    "adam": keras.optimizers.Adam,
    "sgd": keras.optimizers.SGD,
    "rmsprop": keras.optimizers.RMSprop,
    "adagrad": keras.optimizers.Adagrad,
    "adadelta": keras.optimizers.Adadelta,
    "adamax": keras.optimizers.Adamax,
    "nadam": keras.optimizers.Nadam,
}
TRAIN_EVAL_IMAGES = 64  # training images scored in inference mode each epoch (train_eval_*)


def make_learning_rate(lr: float, schedule: str, total_steps: int, *, decay_steps=800, decay_rate=0.96):
    """A float or a Keras schedule. `exponential` is paper 002's 4 % decay every 800 steps
    (continuous; the paper does not say staircase); `cosine` decays to 0 over `total_steps`."""
    if schedule == "constant":
        return lr
    if schedule == "exponential":
        return keras.optimizers.schedules.ExponentialDecay(lr, decay_steps=decay_steps, decay_rate=decay_rate)
    if schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(lr, decay_steps=max(1, total_steps))
    raise ValueError(f"unknown learning-rate schedule {schedule!r}; choose from {', '.join(LR_SCHEDULES)}")


def make_optimizer(name: str, learning_rate):
    """An optimizer by name (see `OPTIMIZERS`) with Keras defaults otherwise (Adam eps 1e-7, as paper 002)."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name](learning_rate=learning_rate)


def evaluate_at_original_size(model, pairs, cfg: DataConfig, threshold=THRESHOLD, batch_size=4,
                              per_image_csv=None) -> dict:
    """Predict each image at model size, map the probabilities back to the image's original size and
    score them against the original-size mask. Returns pooled and per-image-mean scores (HD95 and ASD
    included); with `per_image_csv` (a path) also writes every image's scores there, worst Dice first."""
    from zoo.training import metrics

    rows = []
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start:start + batch_size]
        originals = [read_image(p[0], cfg.channels, max_pixels=cfg.max_pixels) for p in chunk]
        batch = np.stack([fit_to_size(img, None, cfg)[0] for img in originals])
        probs = model.predict(normalize(batch, cfg), verbose=0)
        for (image_path, mask_path), img, prob in zip(chunk, originals, probs):
            truth = read_mask(mask_path, cfg.mask_threshold, cfg.mask_invert, max_pixels=cfg.max_pixels)[..., 0]
            pred = restore_size(metrics.foreground(prob), img.shape[:2], cfg)[..., 0]
            rows += metrics.per_image_scores(truth[None], pred[None], threshold, names=[Path(image_path).name])
    if per_image_csv is not None:
        atomic_write_text(per_image_csv, metrics.per_image_csv(rows))
    return metrics.summarize(rows)


def train_one(cfg, run_dir: Path, split, strategy=None) -> dict:
    """Train one model (`cfg`: a RunConfig) on a `Split` of (train, val, test) pairs; write checkpoints, logs
    and metrics.json.

    Each epoch ends with a backup in `run_dir/backup`. When one is there (an interrupted run), training
    continues after that epoch with the optimizer state, learning-rate step and epoch counter restored,
    appending to history.csv and the TensorBoard logs. Under `strategy` the model is built and trained
    on every replica; with several workers only the chief writes into `run_dir` and evaluates."""
    train_pairs, val_pairs, test_pairs = split
    done = callbacks.completed_epochs(run_dir / "backup")
    if done >= cfg.epochs and (run_dir / "metrics.json").is_file():
        print(f"{run_dir}: all {done} epochs were already done (--epochs N trains further)")
        return json.loads((run_dir / "metrics.json").read_text())
    strategy = strategy or tf.distribute.get_strategy()
    chief, out = distribute.is_chief(strategy), distribute.worker_dir(run_dir, strategy)
    # Drop an epoch logged but not backed up. Other workers read the chief's rows: every worker must make the
    # same checkpoint decisions, because saving reads replicated variables through collective ops.
    history = callbacks.trim_history(run_dir / "history.csv", done, write=chief)
    if chief:  # the same for TensorBoard: one value per step after the resumed run logs that epoch again
        callbacks.trim_tensorboard(run_dir / "tb", done)
    if done:
        print(f"{run_dir}: resuming after epoch {done} of {cfg.epochs}")
    keras.utils.set_random_seed(cfg.seed)
    dcfg = cfg.data_config()
    fill = data.mean_pixel(train_pairs, dcfg) if cfg.augment else 0.0
    aug = data.make_augmentation(fill) if cfg.augment else None
    batch = cfg.batch_size  # check_batch_and_model() checked that it fits the training split
    cache_dir = out / "cache"  # --cache disk; rebuilt by each process (a killed one leaves lock files)
    shutil.rmtree(cache_dir, ignore_errors=True)
    pipeline = {"prefetch": cfg.prefetch, "decode_workers": cfg.decode_workers}
    cache = {"train": cfg.cache, "val": cfg.cache, "train_eval": cfg.cache} if cfg.cache != "disk" else \
        {"train": str(cache_dir / "train"), "val": str(cache_dir / "val"), "train_eval": str(cache_dir / "train_eval")}
    train_ds = distribute.shard_by_data(data.make_dataset(
        train_pairs, dcfg, batch_size=batch, augment=aug, shuffle=True, seed=cfg.seed, cache=cache["train"], **pipeline))
    val_ds = distribute.shard_by_data(data.make_dataset(
        val_pairs, dcfg, batch_size=batch, cache=cache["val"], **pipeline)) if val_pairs else None

    policy = precision.resolve_policy(cfg.mixed_precision) if cfg.mixed_precision else None
    # Variables (weights, optimizer slots, metric counts) live on every replica; layers compute in `policy`.
    with strategy.scope(), precision.global_policy(policy):
        model = cfg.build_model()
        steps = cfg.epochs * int(np.ceil(len(train_pairs) / batch))  # batch is global: one step per global batch
        lr = make_learning_rate(cfg.lr, cfg.lr_schedule, steps)
        model.compile(optimizer=make_optimizer(cfg.optimizer, lr), loss=get_loss(cfg.loss, **cfg.loss_args),
                      metrics=default_metrics(), jit_compile=cfg.jit_compile)

    monitor = "val_dice" if val_ds is not None else "dice"
    tb_dir = out / "tb"
    # Scalars and graph from Keras; weight histograms tagged by stage into the same tb/train run; the training
    # split scored in inference mode (train_eval_*), comparable with val_*, before the CSV logger sees the logs.
    tensorboard = callbacks.ScalarTensorBoard(str(tb_dir), histogram_freq=0, write_graph=True)
    train_eval_ds = distribute.shard_by_data(data.make_dataset(
        train_pairs[:TRAIN_EVAL_IMAGES], dcfg, batch_size=batch, cache=cache["train_eval"], **pipeline))
    run_callbacks = [
        callbacks.StopOnNonFiniteLoss(out / "last.keras"),  # first: stops before anything saves broken weights
        callbacks.LearningRateLogger(),
        tensorboard,
        callbacks.WeightHistograms(tensorboard=tensorboard, model_name=cfg.model, what=cfg.histograms,
                                   freq=cfg.histogram_freq),
        callbacks.TrainingSplitScores(train_eval_ds, str(tb_dir / "train_eval")),
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
    with out_of_memory_hint(batch, cfg.image_size, cfg.width), xla_failure_hint(cfg.jit_compile, cfg.model):
        model.fit(train_ds, validation_data=val_ds, epochs=cfg.epochs, callbacks=run_callbacks,
                  verbose=1 if sys.stdout.isatty() else 2)
        shutil.rmtree(cache_dir, ignore_errors=True)
        if not chief:  # its logs and checkpoints were scratch copies
            shutil.rmtree(out, ignore_errors=True)
            keras.backend.clear_session()
            return {}

        best = load_model(run_dir / "best.keras", compile=False) if (run_dir / "best.keras").exists() else model
        eval_split, eval_pairs = split.evaluation()
        scores = {"split": eval_split, "images": len(eval_pairs), "train_images": len(train_pairs),
                   "val_images": len(val_pairs), "params": int(model.count_params()), "precision": policy or "float32"}
        if eval_pairs:
            scores.update(evaluate_at_original_size(best, eval_pairs, dcfg, per_image_csv=run_dir / "per_image.csv"))
    atomic_write_text(run_dir / "metrics.json", json.dumps(scores, indent=2))
    keras.backend.clear_session()  # free the graph before the next fold
    return scores


def train_all(cfg, run_dir: Path, splits: dict, strategy=None) -> dict:
    """Train the single split, or each fold in its own folder plus a mean over folds; returns the headline
    metrics (empty on a non-chief worker)."""
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
    atomic_write_text(run_dir / "metrics.json", json.dumps(results, indent=2))
    return results["mean"]
