"""Agreement of tiled with whole-image INT8 outputs, in bounded memory and bounded time.

Tiles go through one LiteRT interpreter whose input is resized to a batch of tiles (allocated once). Only
per-tile counts are kept (pixels, equal outputs, equal masks, TP/FP/FN against the truth), never a tile's output.

Sampling. A tile whose core holds foreground (whole-image mask or truth) is always measured. Any other tile can
only disagree by adding false-positive pixels, and such flips cluster near foreground, so the other tiles are
split into strata by the distance from their core to the nearest foreground pixel (up to 1, 2 and 4 halos, and
beyond) and each stratum is sampled at the same rate, in a random order: first tiles worth `MIN_EQUIVALENTS`
whole images of compute per image, then twice as many at each further look. Each stratum's disagreement rate
gets Wilson's score interval (Wilson 1927) on its sampled pixels, the sample size divided by the measured design
effect of sampling whole tiles (Kish: variance of the per-tile rates over the binomial variance, at least 1),
at confidence 1 - (1 - `CONFIDENCE`) / strata; their sum bounds the false-positive pixels, hence the mask
agreement and the Dice change (the whole-image Dice is exact). Measuring stops at the first look whose
intervals decide the targets (`decide`), or, with `decide_targets=False` (nothing to choose), after the first
look. At ~5 looks of 99 % each, a wrong decision has well under 5 % probability.
"""
from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from deploy.tiling.plan import TilePlan, tile_boxes

AGREEMENT_TARGET = 0.999  # share of mask pixels the approximate mode must reproduce
DICE_TARGET_POINTS = 0.1  # and the largest Dice change it may cause (when masks are given)
CONFIDENCE = 0.99  # two-sided, for both intervals
MIN_EQUIVALENTS = 4  # first look: tiles worth this many whole images of compute per eval image (all when fewer)
BATCH_PIXELS = 2 ** 17  # input pixels per interpreter batch (bounds the batch's activation memory)


def progress_bar(total: int, desc: str, progress=None):
    """A tqdm bar on stderr: shown on a terminal when `progress` is None, always with True, never with False."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="tile", leave=False, dynamic_ncols=True,
                disable=None if progress is None else not progress)


class BatchRunner:
    """One LiteRT interpreter for the tile model, its input resized to `batch` tiles and allocated once; a short
    last batch is padded with zero tiles. Per tile the int8 outputs equal batch-1 runs (tested)."""

    def __init__(self, tile_bytes: bytes, threads: int = 2, batch: int | None = None):
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_content=tile_bytes, num_threads=threads)
        d = self.interpreter.get_input_details()[0]
        _, self.tile, width, channels = (int(v) for v in d["shape"])
        self.batch = batch or max(1, min(256, BATCH_PIXELS // (self.tile * width)))
        self.interpreter.resize_tensor_input(d["index"], [self.batch, self.tile, width, channels])
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self._padded = np.zeros(self.input["shape"], self.input["dtype"])

    def __call__(self, tiles: np.ndarray) -> np.ndarray:
        """(n, tile, tile, C) quantized tiles, n <= batch -> (n, tile, tile, K) raw outputs."""
        n = len(tiles)
        if n != self.batch:
            self._padded[:n], self._padded[n:] = tiles, 0
            tiles = self._padded
        self.interpreter.set_tensor(self.input["index"], tiles)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output["index"])[:n]


def wilson_interval(successes: int, trials: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (Wilson 1927)."""
    if trials == 0:
        return 0.0, 1.0
    z = _z(confidence)
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return max(0.0, centre - half), min(1.0, centre + half)


def _z(confidence: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + confidence / 2)


# Columns of the per-tile counts.
_PIX, _SAME, _MASK, _TP, _FP, _FN = range(6)


def _dice(tp, fp, fn) -> float:
    den = 2 * tp + fp + fn
    return 2 * tp / den if den else 0.0


def _rate_interval(rows: np.ndarray, confidence: float) -> tuple[float, float, float]:
    """(rate, low, high) of disagreeing pixels in sampled tiles `rows`: Wilson's interval on the pixels with the
    sample size divided by the design effect of sampling whole tiles."""
    pixels = rows[:, _PIX].sum()
    if not pixels:
        return 0.0, 0.0, 1.0
    wrong = pixels - rows[:, _MASK].sum()
    rate = wrong / pixels
    deff = 1.0
    if 0 < rate < 1 and len(rows) > 1:
        per_tile = (rows[:, _PIX] - rows[:, _MASK]) / np.maximum(rows[:, _PIX], 1)
        deff = max(1.0, float(per_tile.var(ddof=1)) / (rate * (1 - rate) / rows[:, _PIX].mean()))
    n = pixels / deff
    lo, hi = wilson_interval(round(rate * n), max(1, round(n)), confidence)
    return float(rate), lo, hi


def _summary(counts: np.ndarray, strata: list, whole: tuple | None, confidence: float) -> dict:
    """Scores from `strata`: [(measured rows, all pixels of the stratum, exhaustive?)], the first one the
    foreground tiles (measured in full), and the whole image's exact (TP, FP, FN)."""
    fg_rows, fg_pixels, _ = strata[0]
    f = counts[fg_rows].sum(axis=0)
    pixels = int(f[_PIX]) + sum(p for _, p, _ in strata[1:])
    level = 1 - (1 - confidence) / max(1, len(strata) - 1)
    wrong, same = np.zeros(3), float(f[_SAME])
    for rows, stratum_pixels, complete in strata[1:]:
        r = counts[rows]
        rate, lo, hi = (_rate_interval(r, level) if not complete else ((r[:, _PIX] - r[:, _MASK]).sum() / max(1, r[:, _PIX].sum()),) * 3)
        wrong += stratum_pixels * np.array([rate, lo, hi])
        same += stratum_pixels * (r[:, _SAME].sum() / r[:, _PIX].sum() if r[:, _PIX].sum() else 1.0)
    # wrong = background pixels the tiles turn into foreground: estimate, low, high
    agree = [(f[_MASK] + (pixels - f[_PIX]) - v) / pixels for v in (wrong[0], wrong[2], wrong[1])]
    out = {"identical_outputs": float(same / pixels), "mask_agreement": float(agree[0]),
           "mask_agreement_interval": [round(float(v), 6) for v in agree[1:]]}
    if whole is not None:
        dice_w = _dice(*whole)
        dice_t = [_dice(f[_TP], f[_FP] + v, f[_FN]) for v in (wrong[0], wrong[2], wrong[1])]
        out |= {"dice_tiled": round(100 * dice_t[0], 3), "dice_whole": round(100 * dice_w, 3),
                "dice_change_points": round(100 * (dice_t[0] - dice_w), 3),
                "dice_change_interval": [round(100 * (d - dice_w), 3) for d in dice_t[1:]]}
    return out


def decide(summary: dict, agreement_target: float = AGREEMENT_TARGET, dice_target: float = DICE_TARGET_POINTS):
    """True when the intervals meet both targets, False when either interval misses its target, else None."""
    lo, hi = summary["mask_agreement_interval"]
    d_lo, d_hi = summary.get("dice_change_interval", (0.0, 0.0))
    if lo >= agreement_target and -dice_target <= d_lo and d_hi <= dice_target:
        return True
    if hi < agreement_target or d_lo > dice_target or d_hi < -dice_target:
        return False
    return None


def measure_tiling(whole_raw, run_batch, x_quantized, plan: TilePlan, truth=None, *, output_quantization,
                   batch: int = 1, confidence: float = CONFIDENCE, min_equivalents: float = MIN_EQUIVALENTS,
                   targets=(AGREEMENT_TARGET, DICE_TARGET_POINTS), decide_targets: bool = True, seed: int = 0,
                   progress=None, desc="tiles") -> dict:
    """Agreement of tiled with whole-image int8 outputs over images: identical raw outputs, equal masks (threshold
    0.5 on the dequantized output) and, with `truth` (N, H, W, 1), pooled Dice of both in points.

    `whole_raw`: each image's whole-image raw output; `run_batch` maps (n <= batch, tile, tile, C) quantized tiles
    to raw outputs; `output_quantization`: (scale, zero point) of the output. Tiles are measured by strata until
    the intervals decide the targets (module docstring; `seed` orders the samples). Returns the scores over all
    core pixels (estimated where sampled), their intervals (degenerate when every tile was measured),
    `tiles_measured` / `tiles_total`, `foreground_tiles` and `meets_targets` (None: undecided).
    """
    from scipy import ndimage

    scale, zero = (float(v) for v in output_quantization)
    boxes = tile_boxes(plan)
    n_images, (h, w), t = len(x_quantized), plan.image, plan.tile
    whole_raw = [np.asarray(r).reshape(h, w, -1) for r in whole_raw]
    whole_masks = [(r.astype(np.float32) - zero) * scale > 0.5 for r in whole_raw]
    truth_masks = None if truth is None else np.asarray(truth)[..., :1] > 0.5
    items = [(i, box) for i in range(n_images) for box in boxes]
    distance = np.empty(len(items))
    for i in range(n_images):  # chessboard distance from each core to the nearest foreground pixel
        fg = whole_masks[i].any(axis=-1) | (truth_masks[i, ..., 0] if truth_masks is not None else False)
        far = ndimage.distance_transform_cdt(~fg, metric="chessboard") if fg.any() else np.full((h, w), h + w)
        for k, (_, _, y0, y1, x0, x1) in enumerate(boxes):
            distance[i * len(boxes) + k] = far[y0:y1, x0:x1].min()
    core_pixels = np.array([(y1 - y0) * (x1 - x0) * whole_raw[0].shape[-1] for _, (_, _, y0, y1, x0, x1) in items])
    halo = max(plan.halo, 1)
    edges = [0, halo, 2 * halo, 4 * halo, np.inf]
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(distance == 0)] + [rng.permutation(np.flatnonzero((distance > lo) & (distance <= hi)))
                                                for lo, hi in zip(edges[:-1], edges[1:])]
    groups = [groups[0]] + [g for g in groups[1:] if len(g)]
    whole_counts = None
    if truth_masks is not None:
        m, g = np.stack(whole_masks), truth_masks
        whole_counts = tuple(int(np.count_nonzero(v)) for v in (m & g, m & ~g, ~m & g))
    total, rest = len(items), sum(len(g) for g in groups[1:])
    budget = math.ceil(min_equivalents * n_images * h * w / (t * t))
    fraction = min(1.0, max(batch, budget - len(groups[0])) / rest) if rest else 1.0
    counts = np.zeros((total, 6), np.int64)
    measured = [0] * len(groups)
    max_step, summary, verdict = 0, None, None
    with progress_bar(total, desc, progress) as bar:
        while True:
            wanted = [len(groups[0])] + [min(len(g), math.ceil(fraction * len(g))) for g in groups[1:]]
            todo = np.concatenate([g[m:n] for g, m, n in zip(groups, measured, wanted)]).astype(int)
            for first in range(0, len(todo), batch):
                chunk = todo[first:first + batch]
                y = run_batch(np.stack([x_quantized[items[k][0]][ys:ys + t, xs:xs + t] for k in chunk
                                        for ys, xs in [items[k][1][:2]]]))
                for k, tile in zip(chunk, y):
                    i, (ys, xs, y0, y1, x0, x1) = items[k]
                    core = tile[y0 - ys:y1 - ys, x0 - xs:x1 - xs]
                    ref, ref_mask = whole_raw[i][y0:y1, x0:x1], whole_masks[i][y0:y1, x0:x1]
                    mask = (core.astype(np.float32) - zero) * scale > 0.5
                    row = counts[k]
                    row[_PIX], row[_SAME], row[_MASK] = core.size, np.count_nonzero(core == ref), np.count_nonzero(mask == ref_mask)
                    max_step = max(max_step, int(np.abs(core.astype(np.int32) - ref).max()))
                    if truth_masks is not None:
                        gt = truth_masks[i, y0:y1, x0:x1]
                        row[_TP:_FN + 1] = (np.count_nonzero(mask & gt), np.count_nonzero(mask & ~gt),
                                            np.count_nonzero(~mask & gt))
                bar.update(len(chunk))
            measured = wanted
            strata = [(g[:m], int(core_pixels[g].sum()), m == len(g)) for g, m in zip(groups, measured)]
            summary = _summary(counts, strata, whole_counts, confidence)
            verdict = decide(summary, *targets)
            if verdict is not None or not decide_targets or fraction >= 1.0:
                break
            fraction = min(1.0, 2 * fraction)
    done = sum(measured)
    return summary | {"max_step_difference": max_step, "tiles_measured": done, "tiles_total": total,
                      "foreground_tiles": int(len(groups[0])), "images": n_images,
                      "confidence": confidence if done < total else None, "meets_targets": verdict}


def check_tflm(micro, reference, x_quantized: np.ndarray, plan: TilePlan, whole_raw: np.ndarray, *,
               max_tiles: int = 32, seed: int = 0, progress=None) -> dict:
    """TFLite-Micro on one image's tiles: each tile's output against LiteRT's reference kernels (bit-exact with
    TFLM) and each core against the whole-image output `whole_raw` (TFLM's). Every tile when the plan has at
    most `max_tiles`, else the four corner tiles and a random sample of the others (host TFLM is slow)."""
    boxes = tile_boxes(plan)
    picked = list(range(len(boxes)))
    if len(boxes) > max_tiles:
        cols = len(plan.cols.starts)
        corners = sorted({0, cols - 1, len(boxes) - cols, len(boxes) - 1})
        rest = np.setdiff1d(np.arange(len(boxes)), corners)
        picked = sorted(corners + [int(k) for k in np.random.default_rng(seed).choice(rest, max_tiles - len(corners),
                                                                                      replace=False)])
    whole_raw = np.asarray(whole_raw).reshape(*plan.image, -1)
    same_ref, same_whole, pixels = True, 0, 0
    t = plan.tile
    # LiteRT releases the interpreter lock and TFLM does not: the reference runs in a thread beside TFLM
    with progress_bar(len(picked), "TFLite-Micro tiles", progress) as bar, ThreadPoolExecutor(1) as pool:
        for k in picked:
            ys, xs, y0, y1, x0, x1 = boxes[k]
            tile = np.ascontiguousarray(x_quantized[None, ys:ys + t, xs:xs + t])
            expected = pool.submit(reference.invoke_raw, tile)
            y = micro.invoke_raw(tile).reshape(t, t, -1)
            same_ref &= bool(np.array_equal(y, expected.result().reshape(t, t, -1)))
            core = y[y0 - ys:y1 - ys, x0 - xs:x1 - xs]
            same_whole += np.count_nonzero(core == whole_raw[y0:y1, x0:x1])
            pixels += core.size
            bar.update()
    return {"identical_to_litert_reference_tiles": same_ref, "identical_to_whole_image": float(same_whole / pixels),
            "tiles_checked": len(picked), "tiles_total": len(boxes)}
