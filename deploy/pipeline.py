"""One call from a trained Keras model to every deployable file and a float-vs-INT8 report.

`run()` prunes (optional), converts (fp32 always; float16, dynamic, int8, qat on request), exports
(ONNX, C array), checks TFLite-Micro and Edge TPU readiness, then evaluates every variant on the
same held-out images and writes `report.json`, `report.md` and `predictions.png` beside the files.
"""
from __future__ import annotations

import dataclasses
import gzip
import json
import statistics
import time
from pathlib import Path

import numpy as np

from deploy import compress, convert, edgetpu, export, tflm, tiling
from deploy.options import QUANTIZE_CHOICES, DeployOptions
from zoo.training import data
from zoo.training.metrics import evaluate_masks
from zoo.training.precision import float32_copy
from zoo.files import atomic_path, atomic_write_bytes, atomic_write_text, load_model

def latency_ms(model: convert.LiteRTModel, x: np.ndarray, runs: int = 20, warmup: int = 3) -> float:
    """Median wall time of one batch-1 inference in LiteRT, in milliseconds."""
    xq = model.quantize_input(x[:1])
    for _ in range(warmup):
        model.invoke_raw(xq)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        model.invoke_raw(xq)
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def headline_scores(y_true, prob) -> dict:
    """Pooled Dice (f1), IoU, precision, recall and the per-image mean Dice, rounded to 4 decimals."""
    s = evaluate_masks(y_true, prob)
    return {k: round(s[f"pooled_{k}"], 4) for k in ("f1", "iou", "precision", "recall")} | {
        "image_mean_f1": round(s["image_mean_f1"], 4)}


def run(model, out_dir, *, train_pairs, eval_pairs, data_cfg: data.DataConfig, loss, options: DeployOptions,
        val_pairs=(), log=print) -> dict:
    """Produce the deployable files for `model` in `out_dir` and return the report (also written to disk).
    `val_pairs` (optional) pick the best QAT fine-tuning epoch; `eval_pairs` score every variant."""
    model = float32_copy(model)  # a mixed-precision model exports (and QAT-trains) its float32 weights
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    h, w = data_cfg.image_size
    stem = f"{model.name}_{h}x{w}"
    images_eval, y_eval = data.load_arrays(eval_pairs, data_cfg)
    x_eval = data.normalize(images_eval, data_cfg)  # what the model is fed (its input normalisation, if any)
    x_cal = data.normalize(data.load_arrays(train_pairs[:options.calibration_images], data_cfg)[0], data_cfg)
    calibration = [x_cal[i:i + 1] for i in range(len(x_cal))]
    needs_training = options.prune or "qat" in options.quantize
    train_ds = data.make_dataset(train_pairs, data_cfg, batch_size=min(8, len(train_pairs)), shuffle=True) \
        if needs_training else None
    report = {"model": model.name, "input_shape": [h, w, data_cfg.channels], "eval_images": len(eval_pairs),
              "calibration_images": len(calibration), "threads": options.threads, "options": dataclasses.asdict(options),
              "input_normalization": data_cfg.normalization, "variants": {}}

    base = model
    if options.prune:
        log(f"pruning to {options.prune:.0%} sparsity ({'2:4' if options.prune_2_by_4 else options.prune_schedule})")
        base, sparsity = compress.prune(model, train_ds, loss, sparsity=options.prune, schedule=options.prune_schedule,
                                        epochs=options.finetune_epochs, lr=options.finetune_lr,
                                        m_by_n=(2, 4) if options.prune_2_by_4 else None)
        with atomic_path(out_dir / f"{stem}_pruned.keras") as tmp:
            base.save(tmp)
        report["pruning"] = {"layer_sparsity": sparsity,
                             "overall_sparsity": float(np.mean(list(sparsity.values())))}

    float_prob = base.predict(x_eval, batch_size=4, verbose=0)
    report["variants"]["keras_float"] = {"scores": headline_scores(y_eval, float_prob)}

    converted: dict[str, bytes] = {"fp32": convert.to_tflite(base, "fp32")}
    for q in options.quantize:
        mode = QUANTIZE_CHOICES[q]
        log(f"converting {mode}")
        if mode == "qat":
            val_data = None
            if val_pairs:
                images_val, y_val = data.load_arrays(val_pairs, data_cfg)
                val_data = (data.normalize(images_val, data_cfg), y_val)
            qat_model, report["qat"] = compress.quantization_aware(
                base, train_ds, loss, epochs=options.finetune_epochs, lr=options.finetune_lr,
                preserve_sparsity=bool(options.prune), calibration=[x_cal[i:i + 8] for i in range(0, len(x_cal), 8)],
                val_data=val_data)
            converted[mode] = convert.to_tflite(qat_model, "qat", calibration)
        else:
            converted[mode] = convert.to_tflite(base, mode, calibration if mode == "int8" else None)

    preds = {"float": float_prob}
    for mode, blob in converted.items():
        path = out_dir / f"{stem}_{mode}.tflite"
        atomic_write_bytes(path, blob)
        runner = convert.LiteRTModel(blob, num_threads=options.threads)
        prob = runner.predict(x_eval)
        preds[mode] = prob
        entry = {"file": path.name, "bytes": len(blob), "gzip_bytes": len(gzip.compress(blob, 9)),
                 "scores": headline_scores(y_eval, prob), "latency_ms": round(latency_ms(runner, x_eval), 3),
                 "input": {"dtype": np.dtype(runner.input["dtype"]).name,
                           "scale_zero_point": list(runner.input["quantization"])}}
        if mode in convert.INT8_MODES and "tflm" in options.targets:
            log(f"TFLite-Micro check of {mode}")
            try:
                entry["tflm"] = tflm.check(blob, x_eval[:2], ram_budget=options.ram_budget,
                                           flash_budget=options.flash_budget)
            except RuntimeError as e:
                entry["tflm"] = {"error": str(e)}
        if mode in convert.INT8_MODES and "edgetpu" in options.targets:
            entry["edgetpu"] = edgetpu.check_static(blob) | edgetpu.compile_model(path, out_dir)
        atomic_write_text(out_dir / f"{stem}_{mode}.json", json.dumps(entry, indent=2, default=str))
        report["variants"][f"tflite_{mode}"] = entry

    int8_mode = "qat" if "qat" in converted else "int8" if "int8" in converted else None
    if int8_mode:
        export.to_c_array(converted[int8_mode], out_dir)
        report["c_array"] = {"source": "model_data.cc", "model": int8_mode}
        drop = report["variants"]["keras_float"]["scores"]["f1"] - report["variants"][f"tflite_{int8_mode}"]["scores"]["f1"]
        report["int8_dice_drop_points"] = round(100 * drop, 2)
        if options.mcu_ram:  # tiled inference in an MCU RAM budget (deploy/tiling.py)
            log(f"tiling {int8_mode} for a {options.mcu_ram} B arena")
            report["tiling"] = tiling.tile_deployment(base, converted[int8_mode], x_eval, y_eval, out_dir,
                                                      mcu_ram=options.mcu_ram, halo=options.tile_halo,
                                                      threads=options.threads, log=log)
    if "onnx" in options.targets:
        log("exporting ONNX")
        report["onnx"] = export.to_onnx(base, out_dir / f"{stem}.onnx", x_eval[:1])

    atomic_write_text(out_dir / "report.json", json.dumps(report, indent=2, default=str))
    atomic_write_text(out_dir / "report.md", markdown_report(report))
    save_predictions_png(out_dir / "predictions.png", images_eval, y_eval, preds.get("float"), preds.get(int8_mode or "fp32"),
                         int8_mode or "fp32")
    return report


def splits_from_config(cfg: dict, pairs):
    """A run's (train, val, test) pairs, rebuilt from the seed and fractions in its config."""
    cfg = {"val_fraction": 0.1, "test_fraction": 0.2, "seed": 0} | cfg
    if cfg.get("folds"):
        return data.kfold_pairs(pairs, folds=cfg["folds"], fold=cfg.get("fold") or 0,
                                val_fraction=cfg["val_fraction"], seed=cfg["seed"])
    return data.split_pairs(pairs, val_fraction=cfg["val_fraction"], test_fraction=cfg["test_fraction"], seed=cfg["seed"])


def input_normalization(cfg: dict, model_name: str):
    """The run's recorded input normalisation; for a bare .keras file, the registry's for a zoo model name."""
    if "input_normalization" in cfg:
        return cfg["input_normalization"]
    import zoo

    return zoo.get_model_info(model_name).get("input_normalization") if model_name in zoo.list_models() else None


def deploy_saved_model(model_path, cfg: dict, options: DeployOptions, out_dir=None, log=print) -> Path:
    """Load a saved model (safe mode) and run `run()` with the data, preprocessing and held-out split that
    `cfg` (a train.py config.json, or at least {"data": ...}) describes. Returns the output folder."""
    from zoo.training.losses import get_loss

    model = load_model(model_path, compile=False)  # safe mode; a corrupt or foreign file is a one-line ModelFileError
    h, w, c = model.input_shape[1:]
    dcfg = data.DataConfig((h, w), c, cfg.get("mask_threshold", 0.5), cfg.get("mask_invert", False),
                           cfg.get("fit", "resize"), input_normalization(cfg, model.name))
    train, val, test = splits_from_config(cfg, data.find_pairs(cfg["data"]))
    out = Path(out_dir or Path("tflite_models") / model.name)
    run(model, out, train_pairs=train, eval_pairs=test or val, val_pairs=val if test else (), data_cfg=dcfg,
        loss=get_loss(cfg.get("loss", "weighted_bce")), options=options, log=log)
    return out


def markdown_report(report: dict) -> str:
    """The report as a Markdown table a person reads before flashing."""
    h, w, c = report["input_shape"]
    lines = [f"# {report['model']} at {h}x{w}x{c}: float vs compressed", "",
             f"Scores pooled over all pixels of {report['eval_images']} held-out images (threshold 0.5). "
             f"Latency: LiteRT, batch 1, {report['threads']} threads, median of 20 runs on this machine.", "",
             input_line(report.get("input_normalization")), "",
             "| variant | file | bytes | gzip bytes | Dice | IoU | precision | recall | latency ms | TFLM arena | Edge TPU ops |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, v in report["variants"].items():
        s = v["scores"]
        arena = v.get("tflm", {}).get("arena_bytes", "")
        tpu = v.get("edgetpu")
        tpu_text = f"{tpu['mapped']}/{tpu['ops']}" if tpu else ""
        lines.append(f"| {name} | {v.get('file', '')} | {v.get('bytes', '')} | {v.get('gzip_bytes', '')} | {s['f1']:.4f} | "
                     f"{s['iou']:.4f} | {s['precision']:.4f} | {s['recall']:.4f} | {v.get('latency_ms', '')} | {arena} | {tpu_text} |")
    if "val_dice_per_epoch" in report.get("qat", {}):
        q = report["qat"]
        lines += ["", f"QAT fine-tuning: validation Dice per epoch {q['val_dice_per_epoch']} (epoch 0 = ranges "
                      f"calibrated, not yet trained); kept epoch {q['kept_epoch']}."]
    if "int8_dice_drop_points" in report:
        lines += ["", f"INT8 Dice minus float Dice: {-report['int8_dice_drop_points']:+.2f} points."]
    for name, v in report["variants"].items():
        if "tflm" in v and "arena_bytes" in v["tflm"]:
            t = v["tflm"]
            lines.append(f"TFLite-Micro ({name}): arena {t['arena_bytes']} B (budget {t['ram_budget']}: "
                         f"{'fits' if t['fits_ram'] else 'does NOT fit'}), flash {t['flash_bytes']} B (budget "
                         f"{t['flash_budget']}: {'fits' if t['fits_flash'] else 'does NOT fit'}), output vs LiteRT "
                         f"reference kernels: {t['max_diff_vs_litert_ref']} steps.")
        if "edgetpu" in v:
            e = v["edgetpu"]
            lines.append(f"Edge TPU ({name}): {e['mapped']} of {e['ops']} ops on the TPU; first CPU fallback: "
                         f"{e['first_fallback'] or 'none'}; compiler: {e.get('reason') or e.get('log')}.")
    if "tiling" in report:
        lines += tiling.markdown_lines(report["tiling"])
    if "pruning" in report:
        lines.append(f"Pruning: overall kernel sparsity {report['pruning']['overall_sparsity']:.1%} "
                     "(sparsity shrinks the gzip size, not the raw file).")
    if "onnx" in report:
        lines.append(f"ONNX: {report['onnx']['bytes']} bytes, max |ONNX - Keras| = {report['onnx']['max_abs_diff']:.2e}.")
    return "\n".join(lines) + "\n"


def input_line(normalization) -> str:
    """What the firmware feeds the model, in one sentence."""
    if not normalization:
        return "Input: RGB (or grey) pixels scaled to [0, 1] (x = p / 255 for 8-bit), then the model's input quantization."
    return (f"Input: x = (p / 255 - mean) / std per channel with mean {tuple(normalization['mean'])} and std "
            f"{tuple(normalization['std'])} (as in training), then the model's input quantization.")


def save_predictions_png(path: Path, x, y, float_prob, q_prob, q_name: str, rows: int = 3) -> None:
    """Input, truth, float and quantized predictions side by side for the first `rows` images."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = min(rows, len(x))
    fig, axes = plt.subplots(rows, 4, figsize=(10, 2.6 * rows), squeeze=False)
    for r in range(rows):
        panels = [(x[r].squeeze(), "input"), (y[r, ..., 0], "truth"),
                  (float_prob[r, ..., 0] > 0.5, "float"), (q_prob[r, ..., 0] > 0.5, q_name)]
        for ax, (img, title) in zip(axes[r], panels):
            ax.imshow(img, cmap=None if img.ndim == 3 else "gray", vmin=0, vmax=1)
            ax.set_title(title)
            ax.axis("off")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=80)
    plt.close(fig)
