"""Tile placement on the alignment grid (border tiles shifted inwards, never padded) and stitching of the
tiles' cores into the whole image's output."""
from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class AxisTiles:
    """Tiles along one axis: tile i reads input [starts[i], starts[i] + tile) and keeps output [core_starts[i], core_ends[i])."""

    starts: tuple
    core_starts: tuple
    core_ends: tuple


@dataclasses.dataclass(frozen=True)
class TilePlan:
    """Where every tile of an image goes. `tile` is the exported model's input side (core + 2 x halo)."""

    image: tuple  # (height, width), multiples of the alignment
    tile: int
    halo: int
    alignment: int
    rows: AxisTiles
    cols: AxisTiles

    @property
    def core(self) -> int:
        return self.tile - 2 * self.halo

    @property
    def tiles(self) -> int:
        return len(self.rows.starts) * len(self.cols.starts)

    @property
    def overhead(self) -> float:
        """Extra compute of the halos: pixels run through the model / image pixels - 1."""
        return self.tiles * self.tile ** 2 / (self.image[0] * self.image[1]) - 1

    def as_dict(self) -> dict:
        return {"image": list(self.image), "tile_input": self.tile, "core": self.core, "halo": self.halo,
                "alignment": self.alignment, "tiles": self.tiles, "tiles_y": len(self.rows.starts),
                "tiles_x": len(self.cols.starts), "halo_compute_overhead": round(self.overhead, 4)}


def _axis_tiles(length: int, tile: int, halo: int, border: str) -> AxisTiles:
    core = tile - 2 * halo
    starts, core_starts, core_ends = [], [], []
    for c0 in range(0, length, core):
        c1 = min(c0 + core, length)
        s = c0 - halo if border == "pad" else min(max(c0 - halo, 0), length - tile)
        starts.append(s), core_starts.append(c0), core_ends.append(c1)
    return AxisTiles(tuple(starts), tuple(core_starts), tuple(core_ends))


def plan_tiles(image_hw: tuple[int, int], tile: int, halo: int, alignment: int, border: str = "shift") -> TilePlan:
    """Place square tiles of input side `tile` over an image so that their cores cover it once.

    Cores are `tile - 2*halo` wide and laid edge to edge from the top-left; each tile reaches `halo`
    pixels beyond its core, except at the image border, where it is shifted inwards to end exactly at
    the border (so it sees the real border, not zero padding). Every start is a multiple of `alignment`.
    `border="pad"` is the naive placement instead (tiles reach past the border into zero input), kept
    to measure what it costs.
    """
    if border not in ("shift", "pad"):
        raise ValueError(f"border must be 'shift' or 'pad', got {border!r}")
    h, w = image_hw
    for what, v in (("tile", tile), ("halo", halo), ("image height", h), ("image width", w)):
        if v % alignment:
            raise ValueError(f"{what} {v} is not a multiple of the model's alignment {alignment}")
    if tile - 2 * halo < alignment:
        raise ValueError(f"tile {tile} leaves no core with halo {halo}: needs at least {2 * halo + alignment}")
    if tile > min(h, w):
        raise ValueError(f"tile {tile} is larger than the image {h}x{w}; run the whole-image model instead")
    return TilePlan((h, w), tile, halo, alignment, _axis_tiles(h, tile, halo, border),
                    _axis_tiles(w, tile, halo, border))


def tile_boxes(plan: TilePlan) -> list[tuple[int, int, int, int, int, int]]:
    """Every tile of the plan, row by row: (tile start y, tile start x, core y0, core y1, core x0, core x1)."""
    return [(ys, xs, y0, y1, x0, x1)
            for ys, y0, y1 in zip(plan.rows.starts, plan.rows.core_starts, plan.rows.core_ends)
            for xs, x0, x1 in zip(plan.cols.starts, plan.cols.core_starts, plan.cols.core_ends)]


def run_tiled(invoke_raw, x: np.ndarray, plan: TilePlan, pad_value=0, batch: int = 1) -> np.ndarray:
    """Stitch the cores of every tile: `invoke_raw` maps a (n, tile, tile, C) array of n <= `batch` tiles to
    (n, tile, tile, K) (n = 1 with the default batch, as firmware runs them).

    `x` is one (H, W, C) image, already quantized for an int8 model (quantization is per pixel, so
    quantizing the whole image then cutting tiles equals cutting then quantizing). `pad_value` fills
    the input beyond the border, used only by `border="pad"` plans (the input zero point for int8).
    """
    p = plan.tile
    x = np.pad(x, ((p, p), (p, p), (0, 0)), constant_values=pad_value)
    boxes = tile_boxes(plan)
    out = None
    for first in range(0, len(boxes), batch):
        chunk = boxes[first:first + batch]
        y = invoke_raw(np.stack([x[p + ys:p + ys + p, p + xs:p + xs + p] for ys, xs, *_ in chunk]))
        if out is None:
            out = np.zeros((*plan.image, y.shape[-1]), y.dtype)
        for (ys, xs, y0, y1, x0, x1), tile in zip(chunk, y):
            out[y0:y1, x0:x1] = tile[y0 - ys:y1 - ys, x0 - xs:x1 - xs]
    return out
