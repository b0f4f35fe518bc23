"""Check a dataset before training: every problem is one line that names the file.

`validate_dataset(root, cfg)` finds the (image, mask) pairs like `data.find_pairs` and checks each
one the way training will read it: unreadable or truncated files, an image without a mask or a mask
without an image, duplicate stems with different extensions, image/mask size mismatch, unexpected
channel counts, masks that are not binary (more than two value levels over a large area, e.g. a
0/1/2 label map), masks with no foreground after thresholding, and files whose header claims more
pixels than `cfg.max_pixels` (read before anything is decoded, so a decompression bomb costs nothing).
A missing or empty folder, or no usable pair at all, raises `DataError`; so does any problem with
`strict=True`. Otherwise bad pairs are left out and listed in the returned report.

Warnings do not leave a pair out: a colour mask with more than one label colour (red and green, say),
which the reader takes as one foreground class, is used and listed in `Report.warnings`.

Files are checked in parallel threads (the decoders release the GIL). Images are only decoded as
far as needed: Pillow reads the header and, for JPEG, decodes at 1/8 scale, which still reads every
byte and so finds truncation (OpenCV silently fills a truncated JPEG with grey). Masks are decoded
in full by the training reader, so what passes here is exactly what training sees.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from zoo.training import data
from zoo.training.data import DataConfig, DataError

# A mask is "not binary" when more than this share of its pixels lies in the middle half between its
# lowest and highest value. JPEG edge noise stays near the two ends (Kvasir: values 0-8 and 246-255),
# CVC's faint value-11 regions sit near black; a 0/1/2 or 0/128/255 label map puts whole regions mid-way.
MID_LEVEL_LIMIT = 0.02
IMAGE_CHANNELS = (1, 2, 3, 4)  # grey, grey + alpha, RGB, RGBA
TIFF_SUFFIXES = (".tif", ".tiff")


@dataclass(frozen=True)
class Problem:
    """One bad file: `str(problem)` is the one-line message `path: what is wrong`."""

    path: Path
    message: str
    stem: str = ""

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass
class Report:
    """Usable pairs (sorted by stem) and the problems of the pairs left out."""

    root: Path
    pairs: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    stems: int = 0  # distinct stems seen in images/ and masks/
    warnings: list = field(default_factory=list)  # Problems of pairs that are used all the same

    @property
    def skipped(self) -> int:
        return len({p.stem for p in self.problems})

    def summary(self) -> str:
        text = f"{self.root}: {len(self.pairs)} of {self.stems} image/mask pairs used"
        if self.problems:
            text += f", {self.skipped} skipped (listed above; --strict stops at the first problem)"
        if self.warnings:
            text += f", {len(self.warnings)} used with a warning (listed above)"
        return text


class _Bad(Exception):
    """Internal: a check failed with this message (the caller adds the path)."""


def validate_dataset(root, cfg: DataConfig | None = None, *, strict: bool = False, workers: int | None = None) -> Report:
    """Check every pair under `root/images` and `root/masks` (see the module docstring)."""
    cfg = cfg or DataConfig()
    root = Path(root)
    img_dir, mask_dir = root / "images", root / "masks"
    for d in (root, img_dir, mask_dir):
        if not d.is_dir():
            raise DataError(f"{d}: folder not found (a dataset is a folder with images/ and masks/)")
    images, image_dups = data.scan_folder(img_dir)
    masks, mask_dups = data.scan_folder(mask_dir, data.mask_key(images))
    for d, files in ((img_dir, images), (mask_dir, masks)):
        if not files:
            raise DataError(f"{d}: empty folder (no image files; extensions {', '.join(sorted(data.IMAGE_SUFFIXES))})")

    report = Report(root, stems=len(set(images) | set(masks)))
    bad_stems = set()

    def add(problem: Problem):
        if strict:
            raise DataError(str(problem))
        report.problems.append(problem)
        bad_stems.add(problem.stem)

    key = data.mask_key(images)
    for dup, first in [*image_dups, *mask_dups]:
        stem = dup.stem if dup.parent == img_dir else key(dup.stem)
        add(Problem(dup, f"duplicate stem {stem!r} with a different file ({first.name}); the pair is ambiguous", stem))
    for stem in sorted(set(images) - set(masks)):
        add(Problem(images[stem], f"image without a mask (no {stem}.* in {mask_dir})", stem))
    for stem in sorted(set(masks) - set(images)):
        add(Problem(masks[stem], f"mask without an image (no {stem}.* in {img_dir})", stem))

    candidates = [(s, images[s], masks[s]) for s in sorted(images) if s in masks and s not in bad_stems]
    with ThreadPoolExecutor(workers or max(2, os.cpu_count() or 1)) as pool:
        results = pool.map(lambda c: _check_pair(c[1], c[2], cfg), candidates)
        try:
            for (stem, img, mask), (problem, warning) in zip(candidates, results):
                if problem is None:
                    report.pairs.append((img, mask))
                    if warning is not None:
                        report.warnings.append(Problem(warning.path, warning.message, stem))
                else:
                    add(Problem(problem.path, problem.message, stem))
        except DataError:
            pool.shutdown(cancel_futures=True)
            raise

    if not report.pairs:
        empty = [p for p in report.problems if p.message.startswith("mask is empty")]
        if empty and len(empty) == len(candidates):
            raise DataError(f"{mask_dir}: all {len(empty)} masks are empty after thresholding "
                            f"(first: {empty[0]}); check --mask-invert and --mask-threshold")
        raise DataError(f"{root}: no usable image/mask pairs ({len(report.problems)} problems; first: {report.problems[0]})")
    return report


def check_pair(img_path: Path, mask_path: Path, cfg: DataConfig) -> Problem | None:
    """The first problem of one pair, or None when training can read it as a binary mask of the image's size."""
    return _check_pair(img_path, mask_path, cfg)[0]


def _check_pair(img_path: Path, mask_path: Path, cfg: DataConfig) -> tuple[Problem | None, Problem | None]:
    """(the first problem of one pair or None, a warning about a usable pair or None)."""
    try:
        h, w = check_image(img_path, cfg.max_pixels)
    except _Bad as e:
        return Problem(img_path, str(e)), None
    except OSError as e:  # permissions, a file removed meanwhile, ...
        return Problem(img_path, f"cannot read file ({e.strerror or e})"), None
    try:
        raw = _read_mask_raw(mask_path, cfg.max_pixels)
        plane = data.mask_plane(raw, mask_path)
        if plane.shape != (h, w):
            raise _Bad(f"mask size {plane.shape[1]}x{plane.shape[0]} differs from image {img_path.name} size {w}x{h}")
        not_binary = describe_non_binary(plane)
        if not_binary:
            raise _Bad(not_binary)
        fg = data.binarise_mask(plane, cfg.mask_threshold, cfg.mask_invert, mask_path)
        if not fg.any():
            raise _Bad(f"mask is empty: no foreground after thresholding at {cfg.mask_threshold:g} of full scale"
                       f"{' and inverting' if cfg.mask_invert else ''} (values {_value_range(plane)})")
        colours = describe_label_colours(raw)
    except _Bad as e:
        return Problem(mask_path, str(e)), None
    except OSError as e:
        return Problem(mask_path, f"cannot read file ({e.strerror or e})"), None
    except DataError as e:  # the reader's message already names the file
        path, _, message = str(e).partition(": ")
        return Problem(Path(path), message), None
    return None, (Problem(mask_path, colours) if colours else None)


def check_image(path: Path, max_pixels: int | None = data.MAX_PIXELS) -> tuple[int, int]:
    """(height, width) of a readable, complete image with 1-4 channels and at most `max_pixels` pixels;
    raises `_Bad` otherwise."""
    _check_not_empty(path)
    _check_pixels(path, max_pixels)
    if path.suffix.lower() not in TIFF_SUFFIXES:
        size = _pillow_check(path, header_only=True, max_pixels=max_pixels)
        if size is not None:
            return size
    try:
        arr = data._read_raw(path, max_pixels)
    except DataError as e:
        raise _Bad(str(e).partition(": ")[2]) from None
    channels = 1 if arr.ndim == 2 else arr.shape[2] if arr.ndim == 3 else -1
    if channels not in IMAGE_CHANNELS:
        raise _Bad(f"unexpected image shape {arr.shape}: {channels if channels > 0 else 'no'} channels "
                   "(expected 1 grey, 3 RGB, or 2/4 with alpha)")
    return arr.shape[:2]


def describe_non_binary(plane: np.ndarray) -> str | None:
    """Why a mask plane is not binary (its value range and mid-level share), or None when it is."""
    if plane.size == 0:
        return "mask has no pixels"
    if np.issubdtype(plane.dtype, np.floating) and not np.isfinite(plane).all():
        return "mask has NaN or infinite values"
    lo, hi = plane.min(), plane.max()
    if lo == hi or (np.issubdtype(plane.dtype, np.integer) and hi <= 1):
        return None
    quarter = (float(hi) - float(lo)) / 4
    mid = np.count_nonzero((plane > lo + quarter) & (plane < hi - quarter)) / plane.size
    if mid <= MID_LEVEL_LIMIT:
        return None
    return (f"mask is not binary: values {_value_range(plane)}, {mid:.0%} of pixels at mid levels "
            "(a label map with more than two classes?)")


def describe_label_colours(raw: np.ndarray) -> str | None:
    """Which label colours a colour mask holds when it holds more than one (the reader takes every colour
    as the one foreground class), or None. Colours are told apart by which of R, G, B are lit (over half
    the pixel's brightest channel) among the bright pixels; a colour under `MID_LEVEL_LIMIT` of those
    (JPEG colour fringes at edges) does not count. Large masks are sampled on a grid of about 16000 pixels."""
    if raw.ndim != 3 or raw.shape[2] < 3 or raw.size == 0:
        return None
    step = max(1, int((raw.shape[0] * raw.shape[1] / 16384) ** 0.5))
    sample = raw[::step, ::step]
    r, g, b = sample[..., 0], sample[..., 1], sample[..., 2]
    brightest = np.maximum(np.maximum(r, g), b)  # channel slices: much faster than .max(axis=2)
    top = brightest.max()
    if not np.isfinite(top) or top <= 0:
        return None
    half = brightest // 2 if np.issubdtype(brightest.dtype, np.integer) else brightest / 2  # c > half: 2c > brightest
    bright = brightest > top / 2
    kind = ((r > half) * np.uint8(4) + (g > half) * np.uint8(2) + (b > half))[bright]
    counts = np.bincount(kind, minlength=8)
    kinds = [k for k in np.argsort(-counts) if counts[k] > MID_LEVEL_LIMIT * len(kind)]
    if len(kinds) < 2:
        return None
    rgb = sample[..., :3][bright].astype(np.float64)
    shown = [f"({', '.join(f'{v:g}' for v in np.median(rgb[kind == k], axis=0))}) on {counts[k] / brightest.size:.0%}"
             for k in kinds[:4]]
    more = f" and {len(kinds) - 4} more" if len(kinds) > 4 else ""
    return (f"colour mask with {len(kinds)} label colours: RGB {', '.join(shown)}{more} of the pixels, "
            "all taken as one foreground class (a label map with more than two classes?)")


def _value_range(plane: np.ndarray) -> str:
    levels = np.unique(plane)
    shown = "{" + ", ".join(f"{v:g}" for v in levels) + "}" if len(levels) <= 4 else f"{levels[0]:g}..{levels[-1]:g}"
    return f"{shown} in {len(levels)} level{'s' if len(levels) != 1 else ''}"


def _read_mask_raw(path: Path, max_pixels: int | None) -> np.ndarray:
    _check_not_empty(path)
    _check_pixels(path, max_pixels)
    if path.suffix.lower() not in TIFF_SUFFIXES:
        _pillow_check(path, header_only=False, max_pixels=max_pixels)  # truncation, which OpenCV does not report for JPEG
    raw = data._read_raw(path, max_pixels)
    if raw.ndim == 3 and raw.shape[2] not in IMAGE_CHANNELS:
        raise _Bad(f"unexpected mask shape {raw.shape}: {raw.shape[2]} channels (expected 1 grey, 3 RGB, or 2/4 with alpha)")
    return raw


def _check_not_empty(path: Path) -> None:
    if path.stat().st_size == 0:
        raise _Bad("empty file (0 bytes)")


def _check_pixels(path: Path, max_pixels: int | None) -> None:
    problem = data.pixel_limit_problem(path, max_pixels)
    if problem:
        raise _Bad(problem)


def _pillow_check(path: Path, header_only: bool, max_pixels: int | None = data.MAX_PIXELS) -> tuple[int, int] | None:
    """Decode with Pillow to find truncation (JPEG at 1/8 scale). Returns (height, width) when Pillow
    read it with 1-4 channels and `header_only`; None when Pillow cannot judge (the caller then decodes
    with the training reader). Raises `_Bad` on truncation."""
    from PIL import Image, UnidentifiedImageError

    data.allow_in_pillow(max_pixels)  # the header check came first
    try:
        with Image.open(path) as im:
            w, h = im.size
            bands = 3 if im.mode == "P" else len(im.getbands())
            if im.format == "JPEG":
                im.draft(im.mode, (max(1, w // 8), max(1, h // 8)))
            elif not header_only:
                return None  # masks other than JPEG: the full decode that follows finds truncation
            im.load()
    except (UnidentifiedImageError, Image.DecompressionBombError):
        return None
    except (OSError, ValueError, SyntaxError, EOFError) as e:
        if "truncated" in str(e) or isinstance(e, EOFError):
            raise _Bad(f"truncated image file ({path.stat().st_size} bytes)") from None
        return None  # let the training reader (OpenCV first) decide
    return (h, w) if header_only and bands in IMAGE_CHANNELS else None
