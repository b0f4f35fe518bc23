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

from deploy import compress, convert, edgetpu, export, formats, tflm, tiling
from deploy.options import DEFAULT_EXPORT_DIR, DeployOptions
from deploy.report import markdown_report, save_predictions_png
from deploy.tiling.arena import BudgetError, check_budget
from deploy.timing import StepTimer, release_memory
from zoo.training import data
from zoo.training.metrics import THRESHOLD, evaluate_masks
from zoo.training.precision import float32_copy
from zoo.files import atomic_path, atomic_write_bytes, atomic_write_text, load_model

def latency_ms(model: convert.LiteRTModel, x: np.ndarray, runs: int = 20, warmup: int = 3) -> float:
    """Median wall time of one batch-1 inference in LiteRT, in milliseconds."""
    return timed_predict(model, x[:1], min_runs=runs, warmup=warmup)[1]


def timed_predict(model: convert.LiteRTModel, x: np.ndarray, min_runs: int = 10, warmup: int = 2):
    """(predictions for the images `x`, median milliseconds of one batch-1 inference, runs timed): every image
    is run and timed once after `warmup` runs, and the first image again until `min_runs` runs are timed."""
    xq = [model.quantize_input(x[i:i + 1]) for i in range(len(x))]
    for _ in range(warmup):
        model.invoke_raw(xq[0])
    outputs, times = [], []
    for q in xq + xq[:1] * max(0, min_runs - len(xq)):
        start = time.perf_counter()
        outputs.append(model.invoke_raw(q))
        times.append(time.perf_counter() - start)
    prob = np.concatenate([model.dequantize_output(y) for y in outputs[:len(xq)]])
    return prob, 1000 * statistics.median(times), len(times)


def headline_scores(y_true, prob) -> dict:
    """Pooled Dice (f1), IoU, precision, recall and the per-image mean Dice, rounded to 4 decimals."""
    s = evaluate_masks(y_true, prob, threshold=THRESHOLD)
    return {k: round(s[f"pooled_{k}"], 4) for k in ("f1", "iou", "precision", "recall")} | {
        "image_mean_f1": round(s["image_mean_f1"], 4)}


def run(model, out_dir, *, train_pairs, eval_pairs, data_cfg: data.DataConfig, loss, options: DeployOptions,
        val_pairs=(), log=print, record: dict | None = None) -> dict:
    """Produce the deployable files for `model` in `out_dir` and return the report (also written to disk).
    `val_pairs` (optional) pick the best QAT fine-tuning epoch; `eval_pairs` score every variant, and their
    image file names are listed in the report (`scored_images`); `record` (where the split came from) goes in too."""
    timer = StepTimer()
    model = float32_copy(model)  # a mixed-precision model exports (and QAT-trains) its float32 weights
    if options.mcu_ram:  # a budget no tile can run in: one line (BudgetError) before anything is converted or written
        check_budget(model, options.mcu_ram)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    h, w = data_cfg.image_size
    stem = f"{model.name}_{h}x{w}"
    timer.begin("data")
    images_eval, y_eval = data.load_arrays(eval_pairs, data_cfg)
    x_eval = data.normalize(images_eval, data_cfg)  # what the model is fed (its input normalisation, if any)
    x_cal = data.normalize(data.load_arrays(train_pairs[:options.calibration_images], data_cfg)[0], data_cfg)
    calibration = [x_cal[i:i + 1] for i in range(len(x_cal))]
    needs_training = options.prune or "qat" in options.quantize
    train_ds = data.make_dataset(train_pairs, data_cfg, batch_size=min(options.finetune_batch_size, len(train_pairs)),
                                 shuffle=True) if needs_training else None
    # What a program feeding these files must do to an image (predict.py reads it from every sidecar).
    preprocessing = {"image_size": [h, w], "channels": data_cfg.channels, "fit": data_cfg.fit,
                     "input_normalization": data_cfg.normalization, "threshold": THRESHOLD}
    report = {"model": model.name, "input_shape": [h, w, data_cfg.channels], "eval_images": len(eval_pairs),
              "calibration_images": len(calibration), "threads": options.threads, "options": dataclasses.asdict(options),
              "input_normalization": data_cfg.normalization, "fit": data_cfg.fit, "threshold": THRESHOLD,
              "preprocessing": preprocessing, **(record or {}),
              "scored_images": [Path(image).name for image, _ in eval_pairs], "variants": {}}

    base = model
    if options.prune:
        timer.begin("prune")
        log(f"pruning to {options.prune:.0%} sparsity ({'2:4' if options.prune_2_by_4 else options.prune_schedule})")
        base, sparsity = compress.prune(model, train_ds, loss, sparsity=options.prune, schedule=options.prune_schedule,
                                        epochs=options.finetune_epochs, lr=options.finetune_lr,
                                        m_by_n=(2, 4) if options.prune_2_by_4 else None)
        with atomic_path(out_dir / f"{stem}_pruned.keras") as tmp:
            base.save(tmp)
        report["pruning"] = {"layer_sparsity": sparsity,
                             "overall_sparsity": float(np.mean(list(sparsity.values())))}

    timer.begin("keras float")
    float_prob = base.predict(x_eval, batch_size=4, verbose=0)
    report["variants"]["keras_float"] = {"scores": headline_scores(y_eval, float_prob)}

    converted: dict[str, bytes | None] = dict.fromkeys(("fp32", *options.quantize))  # the report's order
    int8 = None
    if "int8" in options.quantize:  # its calibration runs in child processes beside the steps below
        log("converting int8")
        timer.begin("convert int8")
        # Beside QAT one worker (at low priority) takes what the steps below leave idle; else one per thread
        workers = 1 if "qat" in options.quantize else options.threads
        int8 = convert.start_tflite(base, "int8", calibration, calibration_workers=workers)
    # QAT first: its training memory (the run's largest) then sits on fewer leftovers of the other conversions
    for mode in [m for m in converted if m == "qat"] + [m for m in converted if m not in ("qat", "int8")]:
        log(f"converting {mode}")
        timer.begin("qat fine-tune" if mode == "qat" else f"convert {mode}")
        if mode == "qat":
            val_data = None
            if val_pairs:
                images_val, y_val = data.load_arrays(val_pairs, data_cfg)
                val_data = (data.normalize(images_val, data_cfg), y_val)
            release_memory()  # what the steps before left, before the run's largest step
            micro = compress.memory_bounded_batch(base, options.qat_memory, options.finetune_batch_size)
            qat_model, report["qat"] = compress.quantization_aware(
                base, train_ds, loss, epochs=options.finetune_epochs, lr=options.finetune_lr,
                preserve_sparsity=bool(options.prune),
                calibration=[x_cal[i:i + micro] for i in range(0, len(x_cal), micro)],
                val_data=val_data, micro_batch=micro, patience=options.qat_patience)
            report["qat"]["micro_batch"] = micro
            timer.begin("convert qat")
            release_memory()  # the training graph and optimizer state are garbage now
            # Every range is a fake-quant node's, so one sample gives the same file as all of them (tested)
            converted[mode] = convert.to_tflite(qat_model, "qat", calibration[:1])
            del qat_model
            release_memory()  # the QAT graph and its training state: the largest memory of the run
        else:
            converted[mode] = convert.to_tflite(base, mode)
    if int8 is not None and "qat" not in converted:  # the INT8 file is the firmware's model: needed now
        timer.begin("convert int8")  # waiting for the calibration that ran beside the steps above
        converted["int8"] = int8.result()

    preds = {"float": float_prob}

    def score(mode):
        """Write the file of `mode`, score it, check it on TFLite-Micro and the Edge TPU, write its sidecar."""
        blob = converted[mode]
        timer.begin(f"score {mode}")
        path = out_dir / formats.file_name(stem, mode)
        atomic_write_bytes(path, blob)
        runner = convert.LiteRTModel(blob, num_threads=options.threads)
        prob, latency, report["latency_runs"] = timed_predict(runner, x_eval)
        preds[mode] = prob
        entry = {"file": path.name, "preprocessing": preprocessing, "bytes": len(blob),
                 "stripped_bytes": len(convert.strip(blob)), "gzip_bytes": len(gzip.compress(blob, 9)),
                 "scores": headline_scores(y_eval, prob), "latency_ms": round(latency, 3),
                 "input": {"dtype": np.dtype(runner.input["dtype"]).name,
                           "scale_zero_point": list(runner.input["quantization"])}}
        if mode in convert.INT8_MODES and "tflm" in options.targets:
            log(f"TFLite-Micro check of {mode}")
            timer.begin(f"tflm {mode}")
            try:
                # Bit-exact with LiteRT's reference kernels or not: one image runs every op (host TFLM: ~3 s each)
                entry["tflm"] = tflm.check(blob, x_eval[:1], ram_budget=options.ram_budget,
                                           flash_budget=options.flash_budget)
            except RuntimeError as e:
                entry["tflm"] = {"error": str(e)}
        if mode in convert.INT8_MODES and "edgetpu" in options.targets:
            timer.begin(f"edgetpu {mode}")
            entry["edgetpu"] = edgetpu.check_static(blob) | edgetpu.compile_model(path, out_dir)
        atomic_write_text(path.with_suffix(".json"), json.dumps(entry, indent=2, default=str))
        report["variants"][formats.variant_key(mode)] = entry

    for mode, blob in converted.items():
        if blob is not None:  # all but a PTQ file still calibrating beside QAT: scored last
            score(mode)

    int8_mode = "qat" if "qat" in converted else "int8" if "int8" in converted else None
    if int8_mode:
        flash = convert.strip(converted[int8_mode], micro=True)  # what TFLite-Micro reads, nothing more
        report["c_array"] = {"source": "model_data.cc", "model": int8_mode, "bytes": len(flash), "stripped": True}
        arena = report["variants"][formats.variant_key(int8_mode)].get("tflm", {}).get("arena_bytes")
        firmware = None
        if arena:  # the firmware program (deploy/firmware/) with the whole image as its one tile
            from deploy.tiling.firmware import write_firmware

            try:
                firmware = write_firmware(out_dir, converted[int8_mode], None, arena,
                                          convert.LiteRTModel(converted[int8_mode]))
                report["c_array"]["firmware"] = [p.name for p in firmware]
            except ValueError as e:  # an operator without a TFLite-Micro resolver method
                report["c_array"]["firmware_error"] = str(e)
        if firmware is None:
            export.to_c_array(flash, out_dir)
        scores = report["variants"]
        drop = scores["keras_float"]["scores"]["f1"] - scores[formats.variant_key(int8_mode)]["scores"]["f1"]
        report["int8_dice_drop_points"] = round(100 * drop, 2)
        if options.mcu_ram:  # tiled inference in an MCU RAM budget (deploy/tiling/)
            log(f"tiling {int8_mode} for a {options.mcu_ram} B arena")
            timer.begin("tiling")
            report["tiling"] = tiling.tile_deployment(base, converted[int8_mode], x_eval, y_eval, out_dir,
                                                      mcu_ram=options.mcu_ram, halo=options.tile_halo,
                                                      threads=options.threads, log=log)
    if "onnx" in options.targets:
        log("exporting ONNX")
        timer.begin("onnx")
        release_memory()
        report["onnx"] = export.to_onnx(base, out_dir / f"{stem}.onnx", x_eval[:1])
        atomic_write_text(out_dir / f"{stem}.json", json.dumps({"file": f"{stem}.onnx", "preprocessing": preprocessing,
                                                                **report["onnx"]}, indent=2, default=str))

    if converted.get("int8") is None and int8 is not None:  # its calibration had every step above to finish in
        timer.begin("convert int8")
        converted["int8"] = int8.result()
        score("int8")
        report["variants"] = {key: report["variants"][key]  # the report's order: float, then as converted
                              for key in ["keras_float", *map(formats.variant_key, converted)]}

    report["step_times"] = timer.summary()  # every step before this one (benchmarks/deploy_speed.py reads it)
    timer.begin("report")
    atomic_write_text(out_dir / "report.json", json.dumps(report, indent=2, default=str))
    atomic_write_text(out_dir / "report.md", markdown_report(report))
    save_predictions_png(out_dir / "predictions.png", images_eval, y_eval, preds.get("float"), preds.get(int8_mode or "fp32"),
                         int8_mode or "fp32")
    log(timer.line())
    if "error" in report.get("tiling", {}):  # the plan search found no tile: the report says what would fit
        raise BudgetError(f"--mcu-ram {options.mcu_ram}: {report['tiling']['error']} (report.md in {out_dir} "
                          "says what would fit)")
    return report


def deploy_run(recorded, options: DeployOptions, out_dir=None, *, split_key: str | None = None, log=print) -> Path:
    """Deploy a recorded run (a `zoo.training.run.Run`): its best model, data config and recorded split; scores
    exactly the recorded test split (val when there is none) and lists the scored files in report.json.
    `split_key` picks a fold (default: the single split or the first fold). Returns the output folder."""
    from zoo.training.losses import get_loss
    from zoo.training.run import RunError

    recorded.check_files()
    key = split_key if split_key is not None else recorded.first()[0]
    split = recorded.splits[key]
    model = load_model(recorded.model_path(key), compile=False)  # safe mode; a bad file is a one-line ModelFileError
    if tuple(model.input_shape[1:]) != recorded.config.input_shape():
        raise RunError(f"{recorded.model_path(key)}: model input {tuple(model.input_shape[1:])} differs from the run's "
                       f"recorded image_size and channels {recorded.config.input_shape()} in config.json")
    eval_name, eval_pairs = split.evaluation()
    record = {"run": str(recorded.path), "fold": key or None, "eval_split": eval_name,
              "split_source": recorded.split_note or "split.json"}
    out = Path(out_dir) if out_dir else DEFAULT_EXPORT_DIR / model.name
    run(model, out, train_pairs=split.train, eval_pairs=eval_pairs, val_pairs=split.val if eval_name == "test" else (),
        data_cfg=recorded.data_config(), loss=get_loss(recorded.config.loss, **recorded.config.loss_args),
        options=options, log=log, record=record)
    if recorded.split_note:
        log(f"note: {recorded.split_note}")
    return out


def deploy_model_file(model_path, data_root, options: DeployOptions, out_dir=None, *, mask_invert: bool = False,
                      mask_threshold: float | None = None, log=print) -> Path:
    """Deploy a bare `.keras` file on a dataset folder: the pairs the data check keeps, split as train.py's
    defaults split them (a `RunConfig` with this data), input normalisation from the registry for a zoo
    model name. Returns the output folder."""
    import dataclasses as dc

    import zoo
    from zoo.training.losses import get_loss
    from zoo.training.run import RunConfig, usable_pairs

    model = load_model(model_path, compile=False)
    h, w, c = model.input_shape[1:]
    known = model.name in zoo.list_models()
    cfg = dc.replace(RunConfig(), data=str(data_root), image_size=(h, w), channels=c, mask_invert=mask_invert,
                     mask_threshold=RunConfig.mask_threshold if mask_threshold is None else mask_threshold,
                     input_normalization=zoo.get_model_info(model.name).get("input_normalization") if known else None)
    split = cfg.make_splits(usable_pairs(cfg, log=log))[""]
    eval_name, eval_pairs = split.evaluation()
    record = {"run": None, "model_file": str(model_path), "eval_split": eval_name,
              "split_source": f"the data check's usable pairs of {data_root}, split with seed {cfg.seed}"}
    out = Path(out_dir) if out_dir else DEFAULT_EXPORT_DIR / model.name
    run(model, out, train_pairs=split.train, eval_pairs=eval_pairs, val_pairs=split.val if eval_name == "test" else (),
        data_cfg=cfg.data_config(), loss=get_loss(cfg.loss), options=options, log=log, record=record)
    return out
