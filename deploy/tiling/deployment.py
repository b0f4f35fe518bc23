"""One call for the deployment pipeline: choose the tile, prove agreement with the whole image, write the
firmware hand-off; and the tiling section of report.md."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from deploy import tflm
from deploy.tiling.arena import TFLMRunner, arena_curve, largest_fitting_tile, plot_arena
from deploy.tiling.firmware import write_firmware
from deploy.tiling.plan import TilePlan, plan_tiles, run_tiled
from deploy.tiling.receptive_field import receptive_field, resize_tflite, round_up
from zoo.files import atomic_write_bytes

AGREEMENT_TARGET = 0.999  # share of mask pixels the approximate mode must reproduce
DICE_TARGET_POINTS = 0.1  # and the largest Dice change it may cause (when masks are given)


def _binary(raw: np.ndarray, runner) -> np.ndarray:
    return runner.dequantize_output(raw) > 0.5


def measure_tiling(whole_raw: list, tile_runner, x_quantized: list, plan: TilePlan, truth=None, pad_value=0) -> dict:
    """Agreement of tiled with whole-image int8 outputs over images: identical raw outputs, equal masks
    (threshold 0.5) and, with `truth` (N, H, W, 1), pooled Dice of both in points."""
    from zoo.training.metrics import evaluate_masks

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


def tile_deployment(keras_model, model_bytes: bytes, x_eval: np.ndarray, y_eval=None, out_dir=None, *, mcu_ram: int,
                    halo="auto", threads: int = 2, log=print) -> dict:
    """Choose and prove a tiling of an INT8 whole-image model for `mcu_ram` bytes of tensor arena.

    The tile is the largest whose measured TFLM arena fits. `halo`: "exact" (the receptive field's,
    bit-identical output), a number of pixels (approximate), or "auto" (exact when such a tile fits,
    else the smallest halo whose masks agree with the whole image's on >= 99.9 % of the eval pixels and
    whose Dice is within 0.1 point).
    Agreement and Dice come from LiteRT on every eval image, and TFLite-Micro reruns the first one.
    With `out_dir`, writes the tile model, `firmware/` (C array, tiling_config.h, tiled_inference.cc)
    and `tiling.png`. Returns the report's "tiling" section.
    """
    from deploy.convert import LiteRTModel

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
    if halo == "exact" and not report["exact_fits"]:
        raise ValueError(f"--tile-halo exact: the exact halo {exact} needs a tile of {2 * exact + a} px, "
                         f"but only {side} px fits {mcu_ram} B of arena; use --tile-halo auto or a bigger --mcu-ram")
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


def _ref_resolver():
    from ai_edge_litert.interpreter import OpResolverType

    return OpResolverType.BUILTIN_REF


def markdown_lines(t: dict) -> list[str]:
    """The tiling section of report.md."""
    head = (f"Tiling for a {t['mcu_ram']} B arena: receptive field {t['receptive_field']} px, alignment "
            f"{t['alignment']} px, exact halo {t['exact_halo']} px; whole-image arena {t['whole_image_arena']} B.")
    if "error" in t:
        return ["", head, f"No tiling: {t['error']}."]
    lit, mcu = t["litert"], t["tflm_first_image"]
    lines = ["", head,
             f"Chosen tile: {t['tile_input']}x{t['tile_input']} px input ({t['core']} px core, halo {t['halo']} px, "
             f"{t['mode']}), {t['tiles']} tiles ({t['tiles_y']}x{t['tiles_x']}), arena {t['tile_arena']} B, flash "
             f"{t['tile_flash_bytes']} B, halo compute overhead {t['halo_compute_overhead']:.0%}.",
             f"Tiled vs whole-image INT8 on the eval images: identical outputs {lit['identical_outputs']:.4%}, masks agree "
             f"on {lit['mask_agreement']:.4%} of pixels" + (f", Dice {lit['dice_tiled']:.2f} vs {lit['dice_whole']:.2f} "
                                                             f"({lit['dice_change_points']:+.3f} points)" if "dice_tiled" in lit else "") + ".",
             f"TFLite-Micro on the first image: identical to LiteRT reference tiles: "
             f"{mcu['identical_to_litert_reference_tiles']}; identical to the whole image on "
             f"{mcu['identical_to_whole_image']:.4%} of outputs."]
    if "halo_scan" in t:
        lines.append("Exact tiles do not fit; halos tried (mask agreement): " +
                     ", ".join(f"{s['halo']} px {s['mask_agreement']:.4%}" for s in t["halo_scan"]) + ".")
    if "firmware" in t:
        lines.append(f"Firmware hand-off in firmware/: {', '.join(t['firmware'])} (tile model {t['tile_model']}); "
                     "arena against tile size in tiling.png.")
    return lines
