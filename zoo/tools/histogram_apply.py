"""`python -m zoo.tools.histograms RUN --apply`: train the smaller model the kernel analysis suggests and compare.

The suggested model is trained with the run's recorded config (only the model, its input normalisation and,
with `--epochs`, the epoch count change) on the run's recorded split, into `<run>/apply/<model>/`, a run folder
like train.py's. Both models are then measured the same way: parameters and FLOPs (`zoo.models.complexity`),
Dice and recall-weighted F1 on the recorded test split (each run's `metrics.json`), and the INT8 `.tflite` file
(`deploy.pipeline.deploy_run`, INT8 only, into `<run>/apply/int8/<model>/`). The comparison is written to
`<run>/apply/comparison.md` and `comparison.json`.
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

from zoo.training.run import Run, RunConfig

APPLY_DIR = "apply"
SCORES = (("pooled_f1", "Dice"), ("pooled_rw_f1", "r.w. F1"), ("pooled_iou", "IoU"), ("image_mean_f1", "Dice per image"))


class ApplyError(ValueError):
    """Nothing to apply, or a suggestion that cannot be trained; the message is one line."""


def suggested_config(run: Run, suggestion: dict, apply_dir: Path, epochs: int | None = None) -> RunConfig:
    """The run's recorded config with the suggested model (and its registry input normalisation), written to
    `apply_dir/<model>`; `ApplyError` when the suggestion keeps the model."""
    from zoo.models.registry import get_model_info

    target = suggestion.get("model")
    if not target or target == run.config.model:
        first = suggestion.get("text", "").split(". ")[0].replace("**", "").rstrip(".")
        raise ApplyError(f"{run.path}: --apply has nothing to train: the analysis suggests no smaller model ({first})")
    cfg = dataclasses.replace(run.config, model=target, input_normalization=get_model_info(target).get("input_normalization"),
                              epochs=epochs or run.config.epochs, output=str(apply_dir), name=target)
    try:
        return cfg.check()
    except ValueError as e:
        raise ApplyError(f"--apply: {e}") from None


def train_suggested(run: Run, cfg: RunConfig, log=print) -> tuple[Run, float]:
    """Train `cfg` on the run's recorded split (all folds of a --folds run) into a new run folder; returns the
    new run and the training wall time in seconds."""
    from zoo.training import loop
    from zoo.training.run import UsageError, check_batch_and_model, create_run, release_lock

    try:
        check_batch_and_model(cfg, run.splits)
        sub = create_run(cfg, run.splits, overwrite=True)
    except UsageError as e:
        raise ApplyError(f"--apply: {e}") from None
    log(f"training {cfg.model} ({cfg.epochs} epochs) on the recorded split of {run.path} into {sub.path}")
    start = time.perf_counter()
    try:
        loop.train_all(cfg, sub.path, run.splits)
    finally:
        release_lock(sub.path)
    return sub, time.perf_counter() - start


def headline(run: Run) -> dict:
    """Test-split scores of a run's metrics.json (the mean over folds for a --folds run)."""
    path = run.path / "metrics.json"
    if not path.is_file():
        raise ApplyError(f"{path}: missing; the run did not finish training")
    scores = json.loads(path.read_text())
    scores = scores.get("mean", scores)
    return {"split": scores.get("split", "test"), "images": scores.get("images"),
            **{key: scores[key] for key, _ in SCORES if key in scores}}


def measure(run: Run, int8_dir: Path, log=print) -> dict:
    """Parameters, FLOPs, test scores and the INT8 .tflite of a run's best model (first fold of a --folds run)."""
    import tf_keras as keras

    from deploy.options import DeployOptions
    from deploy.pipeline import deploy_run
    from zoo.files import load_model
    from zoo.models.complexity import count_flops, count_params

    model = load_model(run.model_path(), compile=False)
    size = {"params": count_params(model), "flops": count_flops(model)}
    keras.backend.clear_session()
    log(f"INT8 conversion of {run.config.model} into {int8_dir}")
    out = deploy_run(run, DeployOptions(quantize=("int8",), targets=("tflite",)), int8_dir, log=log)
    report = json.loads((out / "report.json").read_text())
    int8 = report["variants"]["tflite_int8"]
    history = run.first()[2] / "history.csv"
    epochs = len(history.read_text().strip().splitlines()) - 1 if history.is_file() else None
    return {"model": run.config.model, "width": run.config.width, "model_args": run.config.model_args,
            "run": str(run.path), "epochs": epochs, **size, "scores": headline(run),
            "int8": {"file": str(out / int8["file"]), "bytes": int8["bytes"], "dice": int8["scores"]["f1"],
                     "eval_images": report["eval_images"]}}


def _split_names(run: Run) -> dict:
    return {k: [[Path(p).name for p in pair] for part in s for pair in part] for k, s in run.splits.items()}


def comparison_markdown(result: dict) -> str:
    """comparison.md: one row per model, then the changes."""
    a, b = result["original"], result["suggested"]
    rows = ["| | model | params | FLOPs | epochs | " + " | ".join(f"{label} ({a['scores']['split']})" for _, label in SCORES)
            + " | INT8 Dice | INT8 .tflite |", "|---|---|---:|---:|---:|" + "---:|" * len(SCORES) + "---:|---:|"]
    for label, m in (("original", a), ("suggested", b)):
        scores = " | ".join(f"{m['scores'][k]:.4f}" if k in m["scores"] else "-" for k, _ in SCORES)
        rows.append(f"| {label} | `{m['model']}` | {m['params']:,} | {m['flops'] / 1e9:.2f} G | {m['epochs']} | {scores} | "
                    f"{m['int8']['dice']:.4f} | {m['int8']['bytes'] / 1024:,.0f} KB |")
    d = result["change"]
    lines = [f"# Applying the kernel-histogram suggestion to `{Path(a['run']).name}`", "",
             f"Suggestion (from `analysis/report.json`): {result['suggestion']['text']}", "",
             f"`{b['model']}` was trained with the run's recorded config and split "
             f"({'the same' if result['same_split'] else 'a DIFFERENT'} train / val / test files; only the model"
             f"{', its input normalisation' if result['input_normalization_changed'] else ''}"
             f"{' and the epochs (' + str(b['epochs']) + ' instead of ' + str(a['epochs']) + ')' if result['epochs_changed'] else ''}"
             f" changed) in {result['train_seconds'] / 60:.1f} min, into `{os.path.relpath(b['run'], a['run'])}`. "
             f"Scores are on the recorded {a['scores']['split']} split ({a['scores']['images']} images), at the images' "
             f"original size, threshold 0.5, pooled over pixels; INT8 is full-integer LiteRT scored on the model-size "
             f"images of the same split.", "", *rows, "",
             f"- Parameters x{d['params_ratio']:.3f}, FLOPs x{d['flops_ratio']:.3f}, INT8 file x{d['int8_bytes_ratio']:.3f}.",
             f"- Dice {d['dice_points']:+.1f} points, r.w. F1 {d['rw_f1_points']:+.1f} points (suggested minus original)."]
    return "\n".join(lines) + "\n"


def apply_suggestion(run_dir, analysis_dir, *, epochs: int | None = None, after_training=None, log=print) -> Path:
    """Train the suggestion of `analysis_dir/report.json` for the run `run_dir` and write `apply/comparison.md`
    and `comparison.json` beside the analysis; returns comparison.md's path. `after_training(run_dir, config)`
    runs on the new run once it is trained (the command line passes the stage analysis, as train.py runs it)."""
    run = Run.load(run_dir).check_files()
    report = Path(analysis_dir) / "report.json"
    suggestion = json.loads(report.read_text())["suggestion"]
    out = Path(analysis_dir).parent / APPLY_DIR
    cfg = suggested_config(run, suggestion, out, epochs)
    out.mkdir(parents=True, exist_ok=True)
    sub, seconds = train_suggested(run, cfg, log)
    sub = Run.load(sub.path)
    if after_training is not None:
        after_training(sub.path, cfg)
    original, suggested = measure(run, out / "int8" / run.config.model, log), measure(sub, out / "int8" / cfg.model, log)
    ratio = lambda f: suggested[f] / original[f]  # noqa: E731
    score = lambda m, k: m["scores"].get(k, float("nan"))  # noqa: E731
    result = {"suggestion": suggestion, "original": original, "suggested": suggested, "train_seconds": round(seconds, 1),
              "same_split": _split_names(run) == _split_names(sub), "epochs_changed": cfg.epochs != run.config.epochs,
              "input_normalization_changed": cfg.input_normalization != run.config.input_normalization,
              "change": {"params_ratio": ratio("params"), "flops_ratio": ratio("flops"),
                         "int8_bytes_ratio": suggested["int8"]["bytes"] / original["int8"]["bytes"],
                         "dice_points": 100 * (score(suggested, "pooled_f1") - score(original, "pooled_f1")),
                         "rw_f1_points": 100 * (score(suggested, "pooled_rw_f1") - score(original, "pooled_rw_f1"))}}
    (out / "comparison.json").write_text(json.dumps(result, indent=2))
    (out / "comparison.md").write_text(comparison_markdown(result))
    return out / "comparison.md"
