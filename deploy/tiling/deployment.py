"""One call for the deployment pipeline: choose the tile, measure agreement with the whole image, estimate the
MCU cost, name smaller models that fit, write the firmware hand-off; and the tiling section of report.md."""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from deploy import tflm
from deploy.tiling.arena import (SMALLEST_TILE_ALIGNMENTS, TFLMRunner, arena_curve, check_budget,
                                 largest_fitting_tile, plot_arena)
from deploy.tiling.firmware import write_firmware
from deploy.tiling.measure import (AGREEMENT_TARGET, CONFIDENCE, DICE_TARGET_POINTS, BatchRunner, check_tflm,
                                   measure_tiling)
from deploy.tiling.plan import TilePlan, plan_tiles
from deploy.tiling.receptive_field import receptive_field, resize_tflite, resized_keras_model, round_up
from zoo.files import atomic_write_bytes

# Host-independent latency estimate: int8 multiply-accumulates per second of a Cortex-M7 class MCU with CMSIS-NN.
# CMSIS-NN's CIFAR-10 CNN (conv 5x5x3x32, 5x5x32x32, 5x5x32x64 at 32, 16, 8 px: 12.3 M MACs, "24.7 M ops") runs in
# 99.1 ms on an STM32F746 (Cortex-M7, 216 MHz): Lai, Suda & Chandra 2018, "CMSIS-NN: Efficient Neural Network
# Kernels for Arm Cortex-M CPUs", arXiv:1801.06601, Table 2. That is 124 M MAC/s (0.57 MAC per cycle).
MAC_RATE = 124e6
MAC_RATE_SOURCE = ("Cortex-M7 at 216 MHz with CMSIS-NN int8 kernels, 124 M MAC/s (CMSIS-NN's CIFAR-10 CNN: "
                   "12.3 M MACs in 99.1 ms, Lai et al. 2018, arXiv:1801.06601)")
MCU_MODELS = ("quarter_multiresunet", "half_multiresunet")  # the registry's microcontroller-sized models
LARGE_FACTOR = 4.0  # compute factors above this are called out in the report


def mcu_cost(keras_model, plan: TilePlan, mac_rate: float = MAC_RATE) -> dict:
    """MACs of the whole image and of the tiled run (`zoo.models.complexity.count_macs`: convolutions and dense
    layers), their ratio, and the latency they imply at `mac_rate` MAC/s (compute only: no memory stalls,
    pooling, activations or camera)."""
    from zoo.models.complexity import count_macs

    h, w = plan.image
    same = tuple(keras_model.input_shape[1:3]) == (h, w)
    whole = count_macs(keras_model if same else resized_keras_model(keras_model, (h, w), weights=False))
    tile = count_macs(resized_keras_model(keras_model, (plan.tile, plan.tile), weights=False))
    return {"whole_image_macs": int(whole), "tile_macs": int(tile), "tiled_macs": int(tile * plan.tiles),
            "compute_factor": round(tile * plan.tiles / whole, 2), "mac_rate": mac_rate,
            "mcu_latency_s": round(tile * plan.tiles / mac_rate, 2), "whole_image_latency_s": round(whole / mac_rate, 2),
            "mac_rate_source": MAC_RATE_SOURCE if mac_rate == MAC_RATE else "given"}


def tile_deployment(keras_model, model_bytes: bytes, x_eval: np.ndarray, y_eval=None, out_dir=None, *, mcu_ram: int,
                    halo="auto", threads: int = 2, log=print, progress=None, alternatives: bool = True) -> dict:
    """Choose and check a tiling of an INT8 whole-image model for `mcu_ram` bytes of tensor arena.

    The tile is the largest whose measured TFLM arena fits (on the stripped model firmware flashes). `halo`:
    "exact" (the receptive field's, bit-identical output), a number of pixels (approximate), or "auto" (exact
    when such a tile fits, else the smallest halo whose masks agree with the whole image's on >= 99.9 % of the
    eval pixels and whose Dice is within 0.1 point, decided at 99 % confidence on a sample of tiles when there
    are many: `deploy.tiling.measure`). Agreement and Dice come from LiteRT; TFLite-Micro reruns a sample of the
    first image's tiles. The report also gives the compute factor and an MCU latency estimate (`mcu_cost`) and,
    with `alternatives`, what the registry's smaller MCU-sized models would need (`model_fit`).
    With `out_dir`, writes the tile model, `firmware/` (C array, model_ops.h, tiling_config.h,
    tiled_inference.cc/.h) and `tiling.png`. `progress`: tqdm bars (None: on a terminal only). Returns the
    report's "tiling" section.
    """
    from deploy.convert import LiteRTModel, strip

    check_budget(keras_model, mcu_ram)  # a budget below any tile's floor: BudgetError before TFLM is tried
    rf = receptive_field(keras_model)
    a, exact = rf.alignment, rf.exact_halo
    flash = strip(model_bytes, micro=True)  # what the firmware flashes: arenas are measured on it
    whole = LiteRTModel(model_bytes, num_threads=threads)
    h, w = (int(v) for v in whole.input["shape"][1:3])
    report = {"mcu_ram": mcu_ram, "receptive_field": rf.size, "receptive_lo_hi": [rf.lo, rf.hi], "alignment": a,
              "exact_halo": exact, "whole_image_arena": tflm.smallest_arena(flash), "flash_bytes": len(flash)}
    side = largest_fitting_tile(flash, mcu_ram, a, min(h, w), a)
    report["largest_fitting_tile"] = side
    smallest = SMALLEST_TILE_ALIGNMENTS * a
    if side is None or side < smallest:
        need = tflm.smallest_arena(resize_tflite(flash, (smallest, smallest)), granularity=256)
        report["smallest_budget"] = need
        report["error"] = (f"no tile fits {mcu_ram} B of arena: the smallest tile ({smallest}x{smallest} px) needs "
                           f"{need} B; give --mcu-ram {-(-need // 1024)}K or more")
        if alternatives:
            report["alternatives"] = _alternatives(keras_model, (h, w), mcu_ram, log)
        return report
    report["exact_fits"] = side >= 2 * exact + a
    if halo == "exact" and not report["exact_fits"]:
        raise ValueError(f"--tile-halo exact: the exact halo {exact} needs a tile of {2 * exact + a} px, "
                         f"but only {side} px fits {mcu_ram} B of arena; use --tile-halo auto or a bigger --mcu-ram")
    xq = whole.quantize_input(np.asarray(x_eval))
    whole_raw = [whole.invoke_raw(q[None])[0] for q in xq]
    tile_bytes = resize_tflite(model_bytes, (side, side))
    runner = BatchRunner(tile_bytes, threads)
    measure = functools.partial(measure_tiling, whole_raw, runner, xq, truth=y_eval, batch=runner.batch,
                                output_quantization=whole.output["quantization"], progress=progress)
    if halo == "auto" and report["exact_fits"] or halo == "exact":
        chosen = exact
        result = measure(plan_tiles((h, w), side, chosen, a), decide_targets=False, desc=f"tiling: exact halo {chosen}")
    elif halo == "auto":
        report["halo_scan"] = []
        candidates = list(range(a, (side - a) // 2 // a * a + 1, a))
        for chosen in candidates:  # the smallest halo that meets the targets; the last one is kept regardless
            last = chosen == candidates[-1]
            result = measure(plan_tiles((h, w), side, chosen, a), decide_targets=not last, desc=f"tiling: halo {chosen}")
            report["halo_scan"].append({k: result.get(k) for k in (
                "mask_agreement", "mask_agreement_interval", "dice_change_points", "dice_change_interval",
                "tiles_measured", "tiles_total", "meets_targets")} | {"halo": chosen})
            log(f"tiling: halo {chosen}: masks agree on {result['mask_agreement']:.4%} of pixels"
                + (f", Dice {result['dice_change_points']:+.3f} points" if "dice_change_points" in result else "")
                + f" ({_sample_text(result)}): {_verdict(result['meets_targets'])}")
            if result["meets_targets"]:
                break
        if not result["meets_targets"]:
            log(f"tiling: warning: no halo up to {chosen} px is shown to meet the targets (masks agree on >= "
                f"{AGREEMENT_TARGET:.1%} of pixels, Dice within {DICE_TARGET_POINTS} point); keeping halo {chosen}")
    else:
        chosen = int(halo)
        result = measure(plan_tiles((h, w), side, chosen, a), decide_targets=False, desc=f"tiling: halo {chosen}")
    plan = plan_tiles((h, w), side, chosen, a)
    tile_flash = strip(tile_bytes, micro=True)
    arena = tflm.smallest_arena(tile_flash)
    report |= {"mode": "exact" if chosen >= exact else "approximate", "tile_arena": arena,
               "tile_flash_bytes": len(tile_flash), **plan.as_dict(), "targets_met": result["meets_targets"]}
    report["litert"] = result
    report["mcu"] = mcu_cost(keras_model, plan)
    micro = TFLMRunner(tile_flash, arena)
    ref = LiteRTModel(tile_bytes, op_resolver=_ref_resolver())
    whole_tflm = tflm.run(flash, xq[0][None], report["whole_image_arena"])
    report["tflm_first_image"] = check_tflm(micro, ref, xq[0], plan, whole_tflm, progress=progress)
    log(f"tiling: {plan.tiles} tiles of {side}x{side} (halo {chosen}, {report['mode']}), arena {arena} B, "
        f"masks agree on {result['mask_agreement']:.4%}; {report['mcu']['compute_factor']:g}x the whole-image "
        f"MACs, about {duration(report['mcu']['mcu_latency_s'])} per image on a Cortex-M7 at 216 MHz")
    if alternatives and _costly(report):
        report["alternatives"] = _alternatives(keras_model, (h, w), mcu_ram, log)
    if out_dir is not None:
        out_dir = Path(out_dir)
        stem = f"{keras_model.name}_{h}x{w}_tile{side}"
        atomic_write_bytes(out_dir / f"{stem}_int8.tflite", tile_bytes)
        report["tile_model"] = f"{stem}_int8.tflite"
        report["firmware"] = [p.name for p in write_firmware(out_dir / "firmware", tile_bytes, plan, arena, whole)]
        tiles = sorted({*range(a, min(h, w) + 1, max(a, round_up(min(h, w) // 8, a))), side, 2 * exact + a})
        curve = arena_curve(flash, [t for t in tiles if t <= min(h, w)], progress=progress)
        report["arena_curve"] = curve
        plot_arena({keras_model.name: {"curve": curve, "chosen": side, "exact_min": 2 * exact + a}}, mcu_ram,
                   out_dir / "tiling.png")
    return report


def duration(seconds: float) -> str:
    """'0.8 s', '43 s', '58 min', '2.1 h'."""
    if seconds < 10:
        return f"{seconds:.2g} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def _verdict(meets) -> str:
    return {True: "meets the targets", False: "misses the targets"}.get(meets, f"undecided at {CONFIDENCE:.0%}")


def _sample_text(m: dict) -> str:
    if m["tiles_measured"] == m["tiles_total"]:
        return f"all {m['tiles_total']} tiles"
    return (f"{m['tiles_measured']} of {m['tiles_total']} tiles measured; {m['confidence']:.0%} intervals: masks "
            f"{m['mask_agreement_interval'][0]:.3%} to {m['mask_agreement_interval'][1]:.3%}"
            + (f", Dice change {m['dice_change_interval'][0]:+.2f} to {m['dice_change_interval'][1]:+.2f} points"
               if "dice_change_interval" in m else ""))


def _ref_resolver():
    from ai_edge_litert.interpreter import OpResolverType

    return OpResolverType.BUILTIN_REF


def model_fit(model, image_hw, mcu_ram: int, model_bytes: bytes | None = None, keep_bytes: bool = False) -> dict:
    """What a model needs to segment an `image_hw` image in `mcu_ram` bytes of TFLM arena, from shapes alone
    (any weights): its exact tile, the largest tile that fits and, when the exact halo fits, the exact plan's
    tile count, compute factor and MCU latency. Without `model_bytes` the INT8 model is converted at a small
    input (random calibration: arenas depend on shapes only) and resized to each tile; `keep_bytes` returns it
    as "model_bytes"."""
    from deploy.convert import strip, to_tflite

    rf = receptive_field(model)
    a, halo = rf.alignment, rf.exact_halo
    exact_tile = 2 * halo + a
    if model_bytes is None:
        size = round_up(max(32, 2 * a), a)
        small = resized_keras_model(model, (size, size), weights=False)
        rng = np.random.default_rng(0)
        model_bytes = to_tflite(small, "int8", [rng.random((1, size, size, small.input_shape[-1]), dtype=np.float32)
                                                for _ in range(2)])
    flash = strip(model_bytes, micro=True)
    h, w = image_hw
    side = largest_fitting_tile(flash, mcu_ram, a, min(h, w), a)
    out = {"model": model.name, "params": int(model.count_params()), "alignment": a, "exact_halo": halo,
           "exact_tile": exact_tile, "largest_fitting_tile": side,
           "exact_tile_arena": tflm.smallest_arena(resize_tflite(flash, (exact_tile,) * 2))
           if exact_tile <= min(h, w) else None}
    if side is not None and side >= exact_tile:
        plan = plan_tiles((h, w), side, halo, a)
        out |= {"mode": "exact", "tile_input": side, "tiles": plan.tiles,
                "tile_arena": tflm.smallest_arena(resize_tflite(flash, (side, side)))} | mcu_cost(model, plan)
    else:
        out["mode"] = "approximate" if side is not None and side >= 3 * a else "does not fit"
    if keep_bytes:
        out["model_bytes"] = model_bytes
    return out


def _alternatives(keras_model, image_hw, mcu_ram, log) -> dict:
    """`model_fit` of the registry's MCU-sized models with fewer parameters than `keras_model`, at its input size."""
    import zoo

    h, w = image_hw
    out = {"image": [h, w], "models": [], "command": f"python -m deploy.tiling --mcu-ram {mcu_ram} --image-size {h}"}
    for name in MCU_MODELS:
        if name == keras_model.name:
            continue
        try:
            candidate = zoo.build_model(name, input_shape=(h, w, keras_model.input_shape[-1]))
            if candidate.count_params() >= keras_model.count_params():
                continue
            out["models"].append(model_fit(candidate, (h, w), mcu_ram))
        except Exception as e:  # a what-if must not fail the deployment: say how to check instead
            out["models"].append({"model": name, "error": f"{type(e).__name__}: {e}"[:200]})
            log(f"tiling: could not size {name} ({e}); check with `{out['command']}`")
    return out


def markdown_lines(t: dict) -> list[str]:
    """The tiling section of report.md."""
    head = (f"Tiling for a {t['mcu_ram']} B arena: receptive field {t['receptive_field']} px, alignment "
            f"{t['alignment']} px, exact halo {t['exact_halo']} px; whole-image arena {t['whole_image_arena']} B.")
    if "error" in t:
        return ["", head, f"No tiling: {t['error']}.", *_alternative_lines(t)]
    lit, mcu = t["litert"], t["tflm_first_image"]
    cost = t.get("mcu")
    lines = ["", head,
             f"Chosen tile: {t['tile_input']}x{t['tile_input']} px input ({t['core']} px core, halo {t['halo']} px, "
             f"{t['mode']}), {t['tiles']} tiles ({t['tiles_y']}x{t['tiles_x']}), arena {t['tile_arena']} B, flash "
             f"{t['tile_flash_bytes']} B.",
             f"**Cost of the halos: {cost['compute_factor']:g}x the whole-image MACs** ({cost['tiled_macs'] / 1e9:.3g} G "
             f"vs {cost['whole_image_macs'] / 1e9:.3g} G MACs per image): about **{duration(cost['mcu_latency_s'])} per "
             f"image** instead of {duration(cost['whole_image_latency_s'])} untiled, estimated for a "
             f"{cost['mac_rate_source']}; compute only."
             if cost else f"Halo compute overhead {t['halo_compute_overhead']:.0%}.",
             f"Tiled vs whole-image INT8 on {lit.get('images', 'the')} eval images ({_sample_text(lit)}): identical "
             f"outputs {lit['identical_outputs']:.4%}, masks agree on {lit['mask_agreement']:.4%} of pixels"
             + (f", Dice {lit['dice_tiled']:.2f} vs {lit['dice_whole']:.2f} ({lit['dice_change_points']:+.3f} points)"
                if "dice_tiled" in lit else "") + ".",
             f"TFLite-Micro on {mcu.get('tiles_checked', 'all')} of the first image's {mcu.get('tiles_total', t['tiles'])} "
             f"tiles: identical to LiteRT reference tiles: {mcu['identical_to_litert_reference_tiles']}; identical to "
             f"the whole image on {mcu['identical_to_whole_image']:.4%} of their core outputs."]
    if "halo_scan" in t:
        lines.append("Exact tiles do not fit; halos tried (mask agreement, Dice change): " + "; ".join(
            f"{s['halo']} px {s['mask_agreement']:.4%}"
            + (f", {s['dice_change_points']:+.3f}" if s.get("dice_change_points") is not None else "")
            + (f" ({s['tiles_measured']} of {s['tiles_total']} tiles)" if s.get("tiles_measured") != s.get("tiles_total")
               else "") + f" {_verdict(s.get('meets_targets')).split(' the ')[0]}" for s in t["halo_scan"]) + ".")
    if t["mode"] == "approximate" and not t.get("targets_met"):
        lines.append(f"**The chosen halo is not shown to meet the targets** (masks agree on >= {AGREEMENT_TARGET:.1%} of "
                     f"pixels, Dice within {DICE_TARGET_POINTS} point; {_verdict(t.get('targets_met'))}).")
    lines += _alternative_lines(t)
    if "firmware" in t:
        lines.append(f"Firmware hand-off in firmware/: {', '.join(t['firmware'])} (tile model {t['tile_model']}); "
                     "arena against tile size in tiling.png.")
    return lines


def _costly(t: dict) -> bool:
    """No tile fits, the halo is approximate, or the halos cost more than LARGE_FACTOR x the whole image's MACs."""
    cost = t.get("mcu")
    return cost is None or cost["compute_factor"] > LARGE_FACTOR or t.get("mode") != "exact"


def _alternative_lines(t: dict) -> list[str]:
    alt, large = t.get("alternatives"), _costly(t)
    lines = []
    if alt and large:
        h, w = alt["image"]
        fits = [m for m in alt["models"] if m.get("mode") == "exact"]
        for m in fits:
            lines.append(f"**{m['model']}** ({m['params']:,} parameters) fits {t['mcu_ram'] // 1024} KB with exact "
                         f"{m['tile_input']}x{m['tile_input']} tiles at {h}x{w}: {m['tiles']} tiles, arena "
                         f"{m['tile_arena']} B, {m['compute_factor']:g}x the whole-image MACs, about "
                         f"{duration(m['mcu_latency_s'])} per image ({duration(m['whole_image_latency_s'])} untiled; "
                         "same MAC rate).")
        for m in alt["models"]:
            if m.get("mode") != "exact":
                lines.append(f"{m['model']}: " + (m["error"] if "error" in m else
                             f"its exact {m['exact_tile']} px tile needs {m['exact_tile_arena']} B of arena"
                             if m.get("exact_tile_arena") else f"{m['mode']} at {h}x{w}") + ".")
        if not fits:
            lines.append("No smaller registry model runs exact tiles in this budget.")
        lines.append(f"Arena against tile size for the MCU-sized models: `{alt['command']} --plot arena.png`.")
    if t.get("largest_fitting_tile"):
        s = t["largest_fitting_tile"]
        if large:
            lines.append(f"Untiled, this model fits {t['mcu_ram'] // 1024} KB at up to {s}x{s} px input.")
    return lines
