"""MCU tiling and INT8 flash size: wall time and peak memory of the tiling step (`deploy.tiling.tile_deployment`)
with the previous algorithm and the current one, side by side in one run, and every model's INT8 file size as
converted and stripped (`deploy.convert.strip`) against its float32 file.

    python benchmarks/mcu_tiling.py                       # trains the test run first (about 2 minutes)
    python benchmarks/mcu_tiling.py --run runs/<run> --sizes half_multiresunet efficientunetpp
    python benchmarks/mcu_tiling.py --skip-old            # the current algorithm only (the old one takes minutes)
    python benchmarks/mcu_tiling.py --toy                 # the current algorithm on a 32x32 random-weight run (tests)

Tiling: the run's best model, its INT8 file (calibrated on 64 training images, as `python -m deploy` does) and its
recorded test split, at `--mcu-ram` (256K). Each algorithm runs in a fresh subprocess; wall time is the step
alone, memory is the peak resident set size sampled every 50 ms during the step and its rise above the RSS
before it. "old" is the algorithm before this benchmark, kept below verbatim: every tile through a batch-1
interpreter, every halo on every tile of every eval image, the chosen plan measured again, TFLite-Micro and
LiteRT's reference kernels on every tile of the first image. "new" is `deploy.tiling.tile_deployment`.
The default run is the one the tiling was timed on: `python train.py --model half_multiresunet --epochs 1`.

Sizes: each model at 64x64 (file sizes do not depend on the input size), INT8 calibrated on two bundled
sample images; ratio = INT8 bytes / float32 bytes, as converted, stripped for LiteRT (`strip`), and stripped
for TFLite-Micro (`strip(micro=True)`, what `model_data.cc` holds).
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common  # noqa: E402  (imports zoo before TensorFlow)

import numpy as np  # noqa: E402

NAME = "mcu_tiling"
SIZE_MODELS = ("half_multiresunet", "half_unet", "deeplabv3plus_mobilenetv3", "unet_mobilenetv3", "efficientunetpp",
               "unetpp", "hrnet_w18", "multiresunet", "unet", "segnet", "xceptionunetpp", "resnet_rfe_unet")
TARGET_RATIO = 0.27


class PeakRSS:
    """Peak resident set size of this process, sampled every 50 ms while the block runs."""

    def __enter__(self):
        self.before = self.peak = common.rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, common.rss_mb())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, common.rss_mb())


def _eval_arrays(run_dir):
    from zoo.training import data
    from zoo.training.run import Run

    run = Run.load(run_dir)
    key, split, _ = run.first()
    cfg = run.data_config()
    _, pairs = split.evaluation()
    images, y = data.load_arrays(pairs, cfg)
    return run, key, split, cfg, data.normalize(images, cfg), y


def prepare(run_dir, out: Path) -> Path:
    """The run's INT8 file, converted as the deployment pipeline converts it."""
    from deploy import convert
    from zoo.files import load_model
    from zoo.training import data

    run, key, split, cfg, _, _ = _eval_arrays(run_dir)
    model = load_model(run.model_path(key), compile=False)
    x_cal = data.normalize(data.load_arrays(split.train[:64], cfg)[0], cfg)
    path = out / "int8.tflite"
    path.write_bytes(convert.to_tflite(model, "int8", [x_cal[i:i + 1] for i in range(len(x_cal))]))
    return path


def child(algorithm: str, run_dir, blob_path, mcu_ram: int, out_dir) -> dict:
    """One tiling step in this process: {"wall_s", "rss_before_mb", "peak_mb", "rise_mb", and the plan}."""
    from zoo.files import load_model

    run, key, _, _, x, y = _eval_arrays(run_dir)
    model = load_model(run.model_path(key), compile=False)
    blob = Path(blob_path).read_bytes()
    step = _old_tile_deployment if algorithm == "old" else __import__("deploy.tiling", fromlist=["x"]).tile_deployment
    start = time.perf_counter()
    with PeakRSS() as rss:
        t = step(model, blob, x, y, out_dir, mcu_ram=mcu_ram, log=lambda *a: print(*a, file=sys.stderr, flush=True))
    wall = time.perf_counter() - start
    lit = t.get("litert", {})
    if algorithm == "old":  # every tile of every image per halo tried, the chosen plan again, 2 x the first image's
        from deploy.tiling.plan import plan_tiles

        per_image = [plan_tiles(t["image"], t["tile_input"], s["halo"], t["alignment"]).tiles for s in t["halo_scan"]]
        runs = len(x) * (sum(per_image) + t["tiles"]) + 2 * t["tiles"]
    else:  # the tiles measured per halo, and the TFLite-Micro check (TFLM and reference kernels)
        runs = sum(s["tiles_measured"] for s in t.get("halo_scan", [])) or lit.get("tiles_measured", 0)
        runs += 2 * t["tflm_first_image"]["tiles_checked"]
    return {"algorithm": algorithm, "wall_s": round(wall, 1), "rss_before_mb": round(rss.before), "tile_runs": runs,
            "peak_mb": round(rss.peak), "rise_mb": round(rss.peak - rss.before), "tile": t.get("tile_input"),
            "halo": t.get("halo"), "tiles": t.get("tiles"), "images": len(x),
            "mask_agreement": lit.get("mask_agreement"), "dice_change_points": lit.get("dice_change_points"),
            "tiles_measured": lit.get("tiles_measured"), "compute_factor": (t.get("mcu") or {}).get("compute_factor"),
            "mcu_latency_s": (t.get("mcu") or {}).get("mcu_latency_s"),
            "halos_tried": [s["halo"] for s in t.get("halo_scan", [])]}


def file_sizes(names) -> list[list]:
    """[model, params, fp32 B, int8 B, stripped B, TFLM B, ratios...] at 64x64 (sizes do not depend on it)."""
    import tf_keras as keras

    import zoo
    from benchmarks.models import calibration_images
    from deploy import convert

    rows = []
    for name in names:
        keras.backend.clear_session()
        model = zoo.build_model(name, input_shape=(64, 64, 3))
        fp32 = convert.to_tflite(model, "fp32")
        int8 = convert.to_tflite(model, "int8", calibration_images(name, (64, 64, 3), 2))
        plain, micro = convert.strip(int8), convert.strip(int8, micro=True)
        rows.append([name, model.count_params(), len(fp32), len(int8), len(plain), len(micro),
                     round(len(int8) / len(fp32), 4), round(len(plain) / len(fp32), 4), round(len(micro) / len(fp32), 4)])
        print(f"{name}: {rows[-1][6:]}", flush=True)
        del model, fp32, int8, plain, micro
    return rows


def _train_default_run(folder: Path) -> Path:
    subprocess.run([sys.executable, str(common.ROOT / "train.py"), "--model", "half_multiresunet", "--epochs", "1",
                    "--output", str(folder), "--name", "r", "--histogram-freq", "0"], check=True, cwd=common.ROOT)
    return folder / "r"


def _run_child(algorithm, run_dir, blob, mcu_ram, work: Path) -> dict:
    out = work / algorithm
    out.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([sys.executable, __file__, "--child", algorithm, "--run", str(run_dir), "--blob", str(blob),
                           "--mcu-ram", str(mcu_ram), "--output", str(out)], stdout=subprocess.PIPE, text=True,
                          cwd=common.ROOT)
    if done.returncode:
        raise common.BenchmarkError(f"the {algorithm} tiling step failed (exit {done.returncode})")
    return json.loads(done.stdout.strip().splitlines()[-1])


def end_to_end(run_dir, mcu_ram: int, quantize: str, targets: str, work: Path) -> dict:
    """`python -m deploy RUN --quantize ... --targets ... --mcu-ram ...` in a subprocess: wall time, the peak RSS of
    its process tree (sampled every 0.2 s) and the step that was running at the peak."""
    cmd = [sys.executable, "-m", "deploy", str(run_dir), "--quantize", quantize, "--targets", targets, "--mcu-ram",
           str(mcu_ram), "--output", str(work / f"deploy_{quantize.replace(',', '_')}")]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=common.ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    state = {"step": "start", "peak": 0.0, "at": "start"}

    def sample():
        while proc.poll() is None:
            r = common.tree_rss_mb(proc.pid) or 0.0
            if r > state["peak"]:
                state["peak"], state["at"] = r, state["step"]
            time.sleep(0.2)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    steps = []
    for line in proc.stdout:
        line = line.strip()
        if line.startswith(("converting", "TFLite-Micro check", "tiling ", "exporting")):
            if line.startswith("tiling "):
                state["before_tiling"] = state["peak"]
            state["step"] = line
            steps.append((round(time.perf_counter() - start, 1), line))
    proc.wait()
    watcher.join()
    if proc.returncode:
        raise common.BenchmarkError(f"{' '.join(cmd[2:])} failed (exit {proc.returncode})")
    wall = time.perf_counter() - start
    tiling = [t for t, line in steps if line.startswith("tiling ")]
    after = [t for t, line in steps if line.startswith("exporting")] + [wall]
    return {"command": "python -m deploy RUN " + " ".join(cmd[4:-2]), "wall_s": round(wall, 1),
            "peak_mb": round(state["peak"]), "peak_during": state["at"], "peak_before_tiling_mb": round(state.get("before_tiling", 0)),
            "tiling_s": round(min(t for t in after if t > tiling[0]) - tiling[0], 1) if tiling else None}


def _plot(steps, sizes, path):
    fig, (a, b) = common.new_figure(2, width=5.5)
    names = [f"{s['algorithm']}\n{s['run'][:18]}" for s in steps]
    a.bar(names, [s["wall_s"] for s in steps], color=["tab:red" if s["algorithm"] == "old" else "tab:green" for s in steps])
    for k, s in enumerate(steps):
        a.annotate(f"{s['wall_s']:g} s\n{s['peak_mb']} MB", (k, s["wall_s"]), ha="center", va="bottom", fontsize=7)
    a.set_ylabel("tiling step wall time (s)")
    a.set_ylim(0, 1.2 * max(s["wall_s"] for s in steps))
    a.tick_params(axis="x", labelsize=7)
    a.set_title("Tiling step: old vs new (peak RSS annotated)")
    if sizes:
        idx = np.arange(len(sizes))
        for k, (col, label) in enumerate(((6, "as converted"), (7, "stripped"), (8, "stripped for TFLM"))):
            b.bar(idx + (k - 1) * 0.27, [r[col] for r in sizes], 0.27, label=label)
        b.axhline(TARGET_RATIO, color="red", ls="--", label=f"{TARGET_RATIO}")
        b.axhline(0.25, color="grey", ls=":", label="0.25 (weights only)")
        b.set_xticks(idx, [r[0] for r in sizes], rotation=60, ha="right", fontsize=7)
        b.set_ylim(0.2, max(0.32, max(r[6] for r in sizes) + 0.01))
        b.set_ylabel("INT8 / float32 file size")
        b.legend(fontsize=7)
    fig.tight_layout()
    common.save_figure(fig, path)


def main(argv=None) -> int:
    p = common.base_parser(__doc__)
    p.add_argument("--run", nargs="+", default=["train"],
                   help="run folders, or 'train' for a fresh test run in a temporary folder (default: train)")
    p.add_argument("--mcu-ram", type=int, default=256 * 1024)
    p.add_argument("--skip-old", action="store_true", help="do not time the old algorithm (minutes)")
    p.add_argument("--sizes", nargs="*", default=list(SIZE_MODELS), help="models for the file-size table")
    p.add_argument("--full", action="store_true", help="also time the full deploy command (float16, dynamic, int8, "
                                                        "qat; tflite, onnx, tflm, edgetpu) on the first run: QAT, minutes")
    p.add_argument("--child", choices=("old", "new"), help=argparse_hidden())
    p.add_argument("--blob", help=argparse_hidden())
    a = p.parse_args(argv)
    common.set_tf_threads(a.threads)
    if a.toy:  # the current algorithm on a 32x32 run with random weights, one small model's file sizes
        a.skip_old, a.full, a.sizes = True, False, ["quarter_multiresunet"]
    if a.child:
        print(json.dumps(child(a.child, a.run[0], a.blob, a.mcu_ram, a.output)), flush=True)
        return 0
    steps, commands = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for k, run in enumerate(a.run):
            work = Path(tmp) / str(k)
            work.mkdir()
            if a.toy:
                run_dir, label = common.toy_run(work), "toy run (32x32, random weights)"
            else:
                run_dir = _train_default_run(work / "runs") if run == "train" else Path(run)
                label = "fresh 1-epoch run" if run == "train" else common.display_path(run_dir)
            blob = prepare(run_dir, work)
            for algorithm in ("old", "new")[a.skip_old:]:
                steps.append(_run_child(algorithm, run_dir, blob, a.mcu_ram, work) | {"run": label})
            commands.append(end_to_end(run_dir, a.mcu_ram, "int8", "tflite,tflm", work) | {"run": label})
            if a.full and k == 0:
                commands.append(end_to_end(run_dir, a.mcu_ram, "float16,dynamic,int8,qat", "tflite,onnx,tflm,edgetpu",
                                           work) | {"run": label})
    sizes = file_sizes(a.sizes) if a.sizes else []
    step_table = common.markdown_table(
        ("run", "algorithm", "wall s", "RSS before MB", "peak RSS MB", "rise MB", "tile", "halo", "tiles / image",
         "halos tried", "tile inferences", "mask agreement", "Dice change pts", "MACs x whole", "est. MCU s / image"),
        [[s["run"], s["algorithm"], s["wall_s"], s["rss_before_mb"], s["peak_mb"], s["rise_mb"], s["tile"], s["halo"],
          s["tiles"], " ".join(map(str, s["halos_tried"])) or "-", s["tile_runs"],
          None if s["mask_agreement"] is None else f"{s['mask_agreement']:.3%}", s["dice_change_points"],
          s["compute_factor"], s["mcu_latency_s"]] for s in steps])
    command_table = common.markdown_table(
        ("run", "command (current code)", "wall s", "tiling step s", "peak RSS MB", "peak during",
         "peak before tiling MB"),
        [[c["run"], f"`{c['command']}`", c["wall_s"], c["tiling_s"], c["peak_mb"], c["peak_during"],
          c["peak_before_tiling_mb"]] for c in commands])
    size_table = common.markdown_table(
        ("model", "params", "fp32 B", "int8 B", "stripped B", "TFLM-stripped B", "int8 / fp32", "stripped / fp32",
         "TFLM-stripped / fp32"), sizes) if sizes else ""
    _plot(steps, sizes, Path(a.output) / f"{NAME}.png")
    reading = []
    for run in dict.fromkeys(s["run"] for s in steps):
        pair = {s["algorithm"]: s for s in steps if s["run"] == run}
        new, old = pair["new"], pair.get("old")
        reading.append(f"{run}: the tiling step took {new['wall_s']} s" + (
            f" instead of {old['wall_s']} s (x{old['wall_s'] / max(new['wall_s'], 1e-9):.0f}), peak RSS {new['peak_mb']} "
            f"vs {old['peak_mb']} MB" if old else f", peak RSS {new['peak_mb']} MB"))
    for c in commands:
        reading.append(f"{c['run']}: `{c['command']}` took {c['wall_s']} s (tiling {c['tiling_s']} s), peak "
                       f"{c['peak_mb']} MB during '{c['peak_during']}' ({c['peak_before_tiling_mb']} MB before tiling)")
    if sizes:
        over = [r for r in sizes if r[1] > 100_000]
        worst = max(over, key=lambda r: r[8]) if over else None
        if worst:
            reading.append(f"stripped for TFLite-Micro, every model over 100 k parameters is at most {worst[8]} of its "
                           f"float32 file ({worst[0]}; target {TARGET_RATIO}); stripped for LiteRT at most "
                           f"{max(r[7] for r in over)}")
    from deploy.tiling.deployment import MAC_RATE_SOURCE

    intro = (f"Tiling at {a.mcu_ram} B of arena on the runs' recorded test splits (8 images). A fresh run is "
             "`python train.py --model half_multiresunet --epochs 1` (CPU training is not bit-reproducible, so two such "
             f"runs can choose different halos). MCU latency: MACs of the tile model x tiles at {MAC_RATE_SOURCE}. The new step's memory includes the TF converter's first load for "
             "the smaller-model what-if (Quarter MultiResUNet converted at 32x32), which `python -m deploy` has loaded "
             "already.\n\n" + step_table +
             "\nThe whole command on the same runs (peak RSS of the process tree, sampled every 0.2 s):\n\n" + command_table +
             ("\nINT8 file sizes (64x64, two bundled calibration images):\n\n" + size_table if size_table else ""))
    if a.toy:
        reading.append("toy run: a 32 px model with random weights; not a measurement")
    common.write_result(a.output, NAME, "MCU tiling step and INT8 flash size", argv, intro, "", "; ".join(reading) + ".",
                        a.threads)
    return 0


def argparse_hidden():
    import argparse

    return argparse.SUPPRESS


# ---------------------------------------------------------------------------------------------------------------
# The previous tiling step, verbatim but for its imports, for the "old" column.

def _old_measure_tiling(whole_raw: list, tile_runner, x_quantized: list, plan, truth=None, pad_value=0) -> dict:
    from deploy.tiling.plan import run_tiled
    from zoo.training.metrics import evaluate_masks

    def _binary(raw, runner):
        return runner.dequantize_output(raw) > 0.5

    tiled = [run_tiled(tile_runner.invoke_raw, xq, plan, pad_value) for xq in x_quantized]
    whole = [w.reshape(t.shape) for w, t in zip(whole_raw, tiled)]
    same = np.mean([np.mean(t == w) for t, w in zip(tiled, whole)])
    masks = [(_binary(t, tile_runner), _binary(w, tile_runner)) for t, w in zip(tiled, whole)]
    result = {"identical_outputs": float(same), "mask_agreement": float(np.mean([np.mean(a == b) for a, b in masks])),
              "max_step_difference": int(max(np.abs(t.astype(np.int32) - w).max() for t, w in zip(tiled, whole)))}
    if truth is not None:
        dice = [evaluate_masks(truth, np.stack([m[k] for m in masks]).astype(np.float32))["pooled_f1"] for k in (0, 1)]
        result |= {"dice_tiled": round(100 * dice[0], 3), "dice_whole": round(100 * dice[1], 3),
                   "dice_change_points": round(100 * (dice[0] - dice[1]), 3)}
    return result


def _old_tile_deployment(keras_model, model_bytes: bytes, x_eval, y_eval=None, out_dir=None, *, mcu_ram: int,
                         halo="auto", threads: int = 2, log=print) -> dict:
    from deploy import tflm
    from deploy.convert import LiteRTModel
    from deploy.tiling.arena import TFLMRunner, arena_curve, largest_fitting_tile, plot_arena
    from deploy.tiling.deployment import _ref_resolver
    from deploy.tiling.firmware import write_firmware
    from deploy.tiling.plan import plan_tiles, run_tiled
    from deploy.tiling.receptive_field import receptive_field, resize_tflite, round_up
    from zoo.files import atomic_write_bytes

    measure_tiling = _old_measure_tiling
    AGREEMENT_TARGET, DICE_TARGET_POINTS = 0.999, 0.1  # noqa: N806
    rf = receptive_field(keras_model)
    a, exact = rf.alignment, rf.exact_halo
    whole = LiteRTModel(model_bytes, num_threads=threads)
    h, w = (int(v) for v in whole.input["shape"][1:3])
    report = {"mcu_ram": mcu_ram, "receptive_field": rf.size, "receptive_lo_hi": [rf.lo, rf.hi], "alignment": a,
              "exact_halo": exact, "whole_image_arena": tflm.smallest_arena(model_bytes), "flash_bytes": len(model_bytes)}
    side = largest_fitting_tile(model_bytes, mcu_ram, a, min(h, w), a)
    report["largest_fitting_tile"] = side
    if side is None or side < 3 * a:
        report["error"] = f"no tile fits {mcu_ram} B of arena (tile {3 * a} needs more)"
        return report
    report["exact_fits"] = side >= 2 * exact + a
    xq = [whole.quantize_input(x[None])[0] for x in x_eval]
    whole_raw = [whole.invoke_raw(q[None])[0] for q in xq]
    tile_bytes = resize_tflite(model_bytes, (side, side))
    tile_runner = LiteRTModel(tile_bytes, num_threads=threads)
    if halo == "auto" and report["exact_fits"] or halo == "exact":
        chosen = exact
    elif halo == "auto":
        report["halo_scan"] = []
        for chosen in range(a, (side - a) // 2 // a * a + 1, a):  # smallest halo that reaches the target
            m = measure_tiling(whole_raw, tile_runner, xq, plan_tiles((h, w), side, chosen, a), y_eval)
            report["halo_scan"].append({"halo": chosen, "mask_agreement": m["mask_agreement"],
                                        "dice_change_points": m.get("dice_change_points")})
            log(f"tiling: halo {chosen}: masks agree on {m['mask_agreement']:.4%} of pixels")
            if m["mask_agreement"] >= AGREEMENT_TARGET and abs(m.get("dice_change_points", 0)) <= DICE_TARGET_POINTS:
                break
    else:
        chosen = int(halo)
    plan = plan_tiles((h, w), side, chosen, a)
    arena = tflm.smallest_arena(tile_bytes)
    report |= {"mode": "exact" if chosen >= exact else "approximate", "tile_arena": arena,
               "tile_flash_bytes": len(tile_bytes), **plan.as_dict()}
    report["litert"] = measure_tiling(whole_raw, tile_runner, xq, plan, y_eval)
    micro = TFLMRunner(tile_bytes, arena)
    ref = LiteRTModel(tile_bytes, op_resolver=_ref_resolver())
    on_mcu = run_tiled(micro.invoke_raw, xq[0], plan)
    report["tflm_first_image"] = {
        "identical_to_litert_reference_tiles": bool(np.array_equal(on_mcu, run_tiled(ref.invoke_raw, xq[0], plan))),
        "identical_to_whole_image": float(np.mean(on_mcu == tflm.run(model_bytes, xq[0][None], report["whole_image_arena"])
                                                  .reshape(on_mcu.shape)))}
    log(f"tiling: {plan.tiles} tiles of {side}x{side} (halo {chosen}, {report['mode']}), arena {arena} B, "
        f"masks agree on {report['litert']['mask_agreement']:.4%}")
    if out_dir is not None:
        out_dir = Path(out_dir)
        stem = f"{keras_model.name}_{h}x{w}_tile{side}"
        atomic_write_bytes(out_dir / f"{stem}_int8.tflite", tile_bytes)
        report["tile_model"] = f"{stem}_int8.tflite"
        report["firmware"] = [p.name for p in write_firmware(out_dir / "firmware", tile_bytes, plan, arena, whole)]
        tiles = sorted({*range(a, min(h, w) + 1, max(a, round_up(min(h, w) // 8, a))), side, 2 * exact + a})
        curve = arena_curve(model_bytes, [t for t in tiles if t <= min(h, w)])
        report["arena_curve"] = curve
        plot_arena({keras_model.name: {"curve": curve, "chosen": side, "exact_min": 2 * exact + a}}, mcu_ram,
                   out_dir / "tiling.png")
    return report


if __name__ == "__main__":
    sys.exit(common.run_main(main))
