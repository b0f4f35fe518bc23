"""What `deploy.pipeline.run` writes for a person: `report.md` (float vs compressed variants, TFLite-Micro,
Edge TPU, tiling, pruning, ONNX) and `predictions.png` (input, truth, float and quantized masks)."""
from __future__ import annotations

from pathlib import Path

from zoo.files import atomic_path


def markdown_report(report: dict) -> str:
    """The report as a Markdown table a person reads before flashing."""
    h, w, c = report["input_shape"]
    lines = [f"# {report['model']} at {h}x{w}x{c}: float vs compressed", "",
             f"Scores pooled over all pixels of {report['eval_images']} held-out images "
             f"({scored_from(report)}; threshold {report.get('threshold', 0.5)}). "
             f"Latency: LiteRT, batch 1, {report['threads']} threads, median of {report.get('latency_runs', 20)} runs "
             "on this machine.", "",
             input_line(report.get("input_normalization")), "",
             "| variant | file | bytes | stripped bytes | gzip bytes | Dice | IoU | precision | recall | latency ms | TFLM arena | Edge TPU ops |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, v in report["variants"].items():
        s = v["scores"]
        arena = v.get("tflm", {}).get("arena_bytes", "")
        tpu = v.get("edgetpu")
        tpu_text = f"{tpu['mapped']}/{tpu['ops']}" if tpu else ""
        lines.append(f"| {name} | {v.get('file', '')} | {v.get('bytes', '')} | {v.get('stripped_bytes', '')} | {v.get('gzip_bytes', '')} | {s['f1']:.4f} | "
                     f"{s['iou']:.4f} | {s['precision']:.4f} | {s['recall']:.4f} | {v.get('latency_ms', '')} | {arena} | {tpu_text} |")
    if "val_dice_per_epoch" in report.get("qat", {}):
        q = report["qat"]
        lines += ["", f"QAT fine-tuning: validation Dice per epoch {q['val_dice_per_epoch']} (epoch 0 = ranges "
                      f"calibrated, not yet trained); kept epoch {q['kept_epoch']}"
                      + (f"; trained with {q['folded_batch_norms']} BatchNorm layers folded into their convolutions "
                         "(frozen, as the INT8 file computes them)." if q.get("folded_batch_norms") else ".")]
    if "int8_dice_drop_points" in report:
        lines += ["", f"INT8 Dice minus float Dice: {-report['int8_dice_drop_points']:+.2f} points."]
    for name, v in report["variants"].items():
        if "tflm" in v and "arena_bytes" in v["tflm"]:
            t = v["tflm"]
            lines.append(f"TFLite-Micro ({name}): arena {t['arena_bytes']} B (budget {t['ram_budget']}: "
                         f"{'fits' if t['fits_ram'] else 'does NOT fit'}), flash {t['flash_bytes']} B"
                         + (f" stripped ({t['unstripped_bytes']} B as converted)" if "unstripped_bytes" in t else "")
                         + f" (budget "
                         f"{t['flash_budget']}: {'fits' if t['fits_flash'] else 'does NOT fit'}), output vs LiteRT "
                         f"reference kernels: {t['max_diff_vs_litert_ref']} steps"
                         + (f" on {t['images']} image{'s' if t['images'] != 1 else ''}." if "images" in t else "."))
        if "edgetpu" in v:
            e = v["edgetpu"]
            lines.append(f"Edge TPU ({name}): {e['mapped']} of {e['ops']} ops known to map to the TPU, "
                         f"{len(e.get('uncertain', []))} uncertain, {len(e.get('cpu_ops', []))} on the CPU; first op "
                         f"not known to map: {e['first_fallback'] or 'none'} ({e.get('note', 'static check')}); "
                         f"compiler: {e.get('reason') or e.get('log')}.")
    if report.get("c_array", {}).get("firmware"):
        c = report["c_array"]
        lines.append(f"Firmware ({c['model']}, whole image): {', '.join(c['firmware'])}; build and run it on this PC "
                     "with deploy/firmware/build_host.sh (docs/deployment.md#firmware).")
    if "tiling" in report:
        from deploy.tiling import markdown_lines

        lines += markdown_lines(report["tiling"])
    if "pruning" in report:
        lines.append(f"Pruning: overall kernel sparsity {report['pruning']['overall_sparsity']:.1%} "
                     "(sparsity shrinks the gzip size, not the raw file).")
    if "onnx" in report:
        lines.append(f"ONNX: {report['onnx']['bytes']} bytes, max |ONNX - Keras| = {report['onnx']['max_abs_diff']:.2e}.")
    return "\n".join(lines) + "\n"


def scored_from(report: dict) -> str:
    """Which images the scores are over, in a few words (the file names are in report.json `scored_images`)."""
    split = report.get("eval_split", "held-out")
    fold = f" of {report['fold']}" if report.get("fold") else ""
    source = report.get("split_source", "")
    where = "recorded in split.json" if source == "split.json" else source
    return f"the {split} split{fold}, {where}" if where else f"the {split} split{fold}"


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
