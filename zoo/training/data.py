"""Datasets: a folder with `images/` and `masks/` matched by file stem, read into a `tf.data` pipeline.

Arrays: images are float32 (H, W, C) in [0, 1]; masks are float32 (H, W, 1) in {0, 1}. No
normalisation layer lives in the models: a model whose registry info declares
`input_normalization = {"mean": (r, g, b), "std": (r, g, b)}` (ImageNet-pretrained encoders) is fed
`(x - mean) / std` by `normalize`, which `make_dataset` applies and every other caller that feeds a
model (evaluation, TensorBoard previews, INT8 calibration) calls; other models get [0, 1] as read.

Readers: TIFF through `tifffile` (OpenCV reads multi-sample TIFFs as grey), everything else
through OpenCV (PNG 8/16-bit, grey, RGBA, JPEG, BMP), with Pillow as a fallback for what OpenCV
cannot decode (palette GIF, exotic BMP). A file that none can read raises `DataError` naming it.

Pixel limit: before decoding, the readers take the size from the file header (PNG, JPEG, GIF, BMP, WebP, PNM,
Sun raster, Radiance HDR and OpenEXR parsed here, TIFF through `tifffile`'s page tags, other formats
through Pillow, which reads only the header when it opens a file) and refuse a file with more than
`max_pixels` pixels (`MAX_PIXELS` by default, `DataConfig.max_pixels`; 0 or None: no limit) with a
`DataError`, so a file whose header claims 20000 x 20000 pixels costs a few bytes of reading, not
gigabytes. Pillow's own limit (`PIL.Image.MAX_IMAGE_PIXELS`) is raised to `max_pixels` when that is
larger, as the header check comes first.
"""
from __future__ import annotations

import csv
import logging
import math
import re
import struct
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp", ".ppm", ".pgm", ".pbm",
                  ".jp2", ".exr", ".hdr", ".pnm", ".sr", ".ras"}
# Default pixel limit of one image or mask file (DataConfig.max_pixels, train.py --max-pixels): 10000 x 10000.
# Decoding takes 4-16 bytes a pixel on the way to float32, so this bounds one file at about 1.6 GB.
MAX_PIXELS = 100_000_000
# Suffixes other datasets append to mask stems (ISIC "_segmentation", PH2 "_lesion", ...).
MASK_STEM_SUFFIXES = re.compile(r"(_mask|_masks|_segmentation|_seg|_gt|_lesion|_label|_labels|_anno)$", re.I)


class DataError(ValueError):
    """A problem with the user's data; its message is one line that names the file."""


@dataclass(frozen=True)
class DataConfig:
    """How files become model inputs.

    Attributes:
        image_size: (height, width) of the model input.
        channels: 3 (RGB) or 1 (grey) model input channels.
        mask_threshold: foreground where mask > threshold x full scale (0.5 -> > 127 for 8-bit).
        mask_invert: foreground is black in the mask files (e.g. MP-Set).
        fit: "resize" stretches to `image_size`; "pad" keeps the aspect ratio and pads right/bottom.
        normalization: {"mean": (r, g, b), "std": (r, g, b)} in [0, 1] units, or None (feed [0, 1]).
        max_pixels: files with more pixels (width x height, read from the header before decoding) are
            refused with a `DataError`; 0 or None: no limit.
    """

    image_size: tuple[int, int] = (256, 256)
    channels: int = 3
    mask_threshold: float = 0.5
    mask_invert: bool = False
    fit: str = "resize"
    normalization: dict | None = None
    max_pixels: int | None = MAX_PIXELS

    def __post_init__(self):
        if self.max_pixels is not None and (type(self.max_pixels) is not int or self.max_pixels < 0):
            raise ValueError(f"max_pixels must be a whole number of pixels, 0 or more (0: no limit), "
                             f"got {self.max_pixels!r}")
        if self.normalization is not None:
            norm = self.normalization
            if not isinstance(norm, dict) or set(norm) != {"mean", "std"} or \
                    any(len(norm[k]) != 3 for k in norm) or min(norm["std"]) <= 0:
                raise ValueError(f"normalization must be {{'mean': (r, g, b), 'std': (r, g, b)}} with positive std, "
                                 f"got {norm!r}")
        if self.fit not in ("resize", "pad"):
            raise ValueError(f"fit must be 'resize' or 'pad', got {self.fit!r}")
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {self.channels}")


# --- image size from the header ----------------------------------------------------------------

def pixel_limit_problem(path, max_pixels: int | None = MAX_PIXELS) -> str | None:
    """Why `path` is over the pixel limit, e.g. "20000x20000 = 400000000 pixels, more than the limit of
    100000000 (--max-pixels)", or None when it is not (or its size cannot be read without decoding).
    Reads the file header only."""
    if not max_pixels:
        return None
    size = header_size(path)
    if size is None:
        return None
    pixels, shape = size
    if pixels <= max_pixels:
        return None
    return f"{shape + ' = ' if shape else ''}{pixels} pixels, more than the limit of {max_pixels} (--max-pixels)"


def check_pixel_limit(path, max_pixels: int | None = MAX_PIXELS) -> None:
    """Raise `DataError` naming the file when its header claims more than `max_pixels` pixels."""
    problem = pixel_limit_problem(path, max_pixels)
    if problem:
        raise DataError(f"{path}: {problem}")


def header_size(path) -> tuple[int, str] | None:
    """(pixels a full decode yields, "WxH" or "N pages of WxH", or "" when only the count is known) from
    the file header, or None when the format is unknown here and to Pillow, or the header is damaged (the
    decoders then report that). TIFF counts every page of its first series, which the TIFF reader decodes."""
    path = Path(path)
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            size = _tiff_size(path)
            if size is not None:
                return size
        with open(path, "rb") as f:
            wh = _parse_header(f)
    except (OSError, ValueError, struct.error, IndexError):
        wh = None
    if wh is None:
        return _pillow_size(path)
    w, h = wh
    return w * h, f"{w}x{h}"


def _parse_header(f) -> tuple[int, int] | None:
    """(width, height) of PNG, JPEG, BMP, WebP, PNM, Sun raster, Radiance HDR or OpenEXR from its header."""
    head = f.read(64)
    if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
        return struct.unpack(">II", head[16:24])
    if head.startswith(b"\xff\xd8"):
        return _jpeg_size(f)
    if head.startswith(b"BM") and len(head) >= 26:
        if struct.unpack("<I", head[14:18])[0] == 12:  # OS/2 BITMAPCOREHEADER
            return struct.unpack("<HH", head[18:22])
        w, h = struct.unpack("<ii", head[18:26])
        return abs(w), abs(h)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        chunk = head[12:16]
        if chunk == b"VP8 " and head[23:26] == b"\x9d\x01\x2a":
            w, h = struct.unpack("<HH", head[26:30])
            return w & 0x3FFF, h & 0x3FFF
        if chunk == b"VP8L" and head[20:21] == b"\x2f":
            bits = struct.unpack("<I", head[21:25])[0]
            return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        if chunk == b"VP8X":
            return int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1
        return None
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return _gif_size(f, head)
    if head[:4] == b"\x59\xa6\x6a\x95":  # Sun raster
        return struct.unpack(">II", head[4:12])
    if len(head) > 2 and head[:1] == b"P" and head[1:2] in b"123456" and head[2:3].isspace():
        return _pnm_size(head + f.read(4096))
    if head.startswith((b"#?RADIANCE", b"#?RGBE")):
        return _radiance_size(head + f.read(65536))
    if head[:4] == b"\x76\x2f\x31\x01":
        return _exr_size(f)
    return None


def _jpeg_size(f) -> tuple[int, int] | None:
    """Walk the JPEG segments (seeking over their bodies) to the first start-of-frame marker."""
    f.seek(2)
    skipped = 0
    while skipped < 65536:
        byte = f.read(1)
        if not byte:
            return None
        if byte != b"\xff":
            skipped += 1  # fill bytes between segments, or a damaged file
            continue
        while byte == b"\xff":
            byte = f.read(1)
        if not byte:
            return None
        marker = byte[0]
        if marker in (0x00, 0x01) or 0xD0 <= marker <= 0xD8:  # stuffed byte, or markers without a length
            continue
        if marker in (0xD9, 0xDA):  # end of image, or scan data before any frame header
            return None
        length = struct.unpack(">H", f.read(2))[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            _, h, w = struct.unpack(">BHH", f.read(5))
            return w, h
        f.seek(length - 2, 1)
    return None


def _gif_size(f, head: bytes) -> tuple[int, int] | None:
    """The logical screen, grown to the first frame's extent (as Pillow and OpenCV size a GIF)."""
    w, h, flags = struct.unpack("<HHB", head[6:11])
    f.seek(13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 13))
    for _ in range(10000):
        block = f.read(1)
        if block == b"\x2c":  # image descriptor
            x, y, fw, fh = struct.unpack("<HHHH", f.read(8))
            return max(w, x + fw), max(h, y + fh)
        if block != b"\x21":  # trailer or damage: the screen size
            return w, h
        f.read(1)  # extension label, then data sub-blocks up to an empty one
        while (n := f.read(1)) and n[0]:
            f.seek(n[0], 1)
    return w, h


def _pnm_size(text: bytes) -> tuple[int, int] | None:
    tokens = re.sub(rb"#[^\n]*", b" ", text[2:]).split()
    return (int(tokens[0]), int(tokens[1])) if len(tokens) >= 2 and tokens[0].isdigit() and tokens[1].isdigit() else None


def _radiance_size(text: bytes) -> tuple[int, int] | None:
    m = re.search(rb"\n\n([-+])Y (\d+) ([-+])X (\d+)", text)
    return (int(m.group(4)), int(m.group(2))) if m else None


def _exr_size(f) -> tuple[int, int] | None:
    """The dataWindow attribute of an OpenEXR header (name\\0 type\\0 int32 size, value)."""
    f.seek(8)
    for _ in range(1000):
        name = _c_string(f)
        if not name:
            return None
        _c_string(f)
        size = struct.unpack("<i", f.read(4))[0]
        if name == b"dataWindow" and size == 16:
            x0, y0, x1, y1 = struct.unpack("<iiii", f.read(16))
            return max(0, x1 - x0 + 1), max(0, y1 - y0 + 1)
        f.seek(max(0, size), 1)
    return None


def _c_string(f, limit=256) -> bytes:
    out = bytearray()
    while len(out) < limit:
        c = f.read(1)
        if not c or c == b"\0":
            break
        out += c
    return bytes(out)


class _QuietOnThisThread(logging.Filter):
    """Drops tifffile's log lines about a damaged file while this thread only reads its header (the
    decoders, or the pixel limit, then report the file in one line)."""

    local = threading.local()

    def filter(self, record):
        return not getattr(self.local, "quiet", False)


def _tiff_size(path: Path) -> tuple[int, str] | None:
    """Pixels of the first series (what `tifffile.imread` decodes) from the TIFF tags; None if tifffile fails."""
    import tifffile

    tiff_log = logging.getLogger("tifffile")
    if not any(isinstance(f, _QuietOnThisThread) for f in tiff_log.filters):
        tiff_log.addFilter(_QuietOnThisThread())
    _QuietOnThisThread.local.quiet = True
    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            page = series.keyframe
            w, h = int(page.imagewidth), int(page.imagelength)
            samples = max(1, int(page.samplesperpixel))
            elements = math.prod(int(n) for n in series.shape)
    except Exception as e:  # noqa: BLE001 - any parse failure: let the other readers judge
        log.debug("tifffile cannot read the header of %s: %s", path, e)
        return None
    finally:
        _QuietOnThisThread.local.quiet = False
    pixels = elements // samples
    pages = pixels // max(1, w * h)
    return pixels, f"{pages} pages of {w}x{h}" if pages > 1 else f"{w}x{h}"


def _pillow_size(path: Path) -> tuple[int, str] | None:
    """(pixels, "WxH") from Pillow's header parse, or None when Pillow does not know the format."""
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                w, h = im.size
                return w * h, f"{w}x{h}"
    except Image.DecompressionBombError as e:  # over Pillow's own limit; its message carries the count
        m = re.search(r"\((\d+) pixels\)", str(e))
        return (int(m.group(1)) if m else 2 * (Image.MAX_IMAGE_PIXELS or 0) + 1), ""
    except Exception:  # noqa: BLE001 - unknown or damaged: the decoders report it
        return None


_PILLOW_LOCK = threading.Lock()


def allow_in_pillow(max_pixels: int | None) -> None:
    """Raise Pillow's decompression-bomb limit to `max_pixels` (None or 0: off) when that is larger, so
    that Pillow does not refuse or warn about a file the header check let through."""
    from PIL import Image

    with _PILLOW_LOCK:
        if Image.MAX_IMAGE_PIXELS is not None and (not max_pixels or max_pixels > Image.MAX_IMAGE_PIXELS):
            Image.MAX_IMAGE_PIXELS = max_pixels or None


# --- reading files ---------------------------------------------------------------------------

def _read_raw(path: Path, max_pixels: int | None = MAX_PIXELS) -> np.ndarray:
    """Decode a file to an array (H, W) or (H, W, C) in RGB order, keeping its bit depth; `DataError`
    without decoding when its header claims more than `max_pixels` pixels."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    check_pixel_limit(path, max_pixels)
    if path.suffix.lower() in (".tif", ".tiff"):
        import tifffile

        try:
            arr = tifffile.imread(path)
            return arr[0] if arr.ndim == 4 else arr  # multi-page: first page
        except Exception as e:  # fall through to OpenCV / Pillow
            log.debug("tifffile failed on %s: %s", path, e)
    arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if arr is not None:
        if arr.ndim == 3 and arr.shape[2] == 3:
            return cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)
        if arr.ndim == 3 and arr.shape[2] == 4:
            return cv2.cvtColor(arr, cv2.COLOR_BGRA2RGBA)
        return arr
    try:
        from PIL import Image, UnidentifiedImageError

        allow_in_pillow(max_pixels)
        with Image.open(path) as im:
            if im.mode in ("P", "PA", "CMYK", "YCbCr", "LAB", "HSV"):
                im = im.convert("RGBA" if "A" in im.mode or "transparency" in im.info else "RGB")
            return np.array(im)
    except UnidentifiedImageError:
        raise DataError(f"{path}: cannot decode image (not a format OpenCV or Pillow recognises)") from None
    except Image.DecompressionBombError as e:  # a size the header check could not read
        raise DataError(f"{path}: {' '.join(str(e).split())} (--max-pixels)") from None
    except (OSError, ValueError) as e:
        if "truncated" in str(e):
            raise DataError(f"{path}: truncated image file ({path.stat().st_size} bytes)") from None
        raise DataError(f"{path}: cannot decode image ({e.__class__.__name__}: {e})") from None


def _to_unit_float(arr: np.ndarray, path: Path) -> np.ndarray:
    """Scale any pixel type to float32 in [0, 1] by its full scale (bool, uint8/16/32, float)."""
    if arr.dtype == bool:
        return arr.astype(np.float32)
    if np.issubdtype(arr.dtype, np.integer):
        return arr.astype(np.float32) / float(np.iinfo(arr.dtype).max)
    if np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float32)
        if not np.isfinite(arr).all():
            raise DataError(f"{path}: image has NaN or infinite values")
        hi = float(arr.max()) if arr.size else 0.0
        return arr / hi if hi > 1.0 else arr
    raise DataError(f"{path}: unsupported pixel type {arr.dtype}")


def read_image(path, channels: int = 3, max_pixels: int | None = MAX_PIXELS) -> np.ndarray:
    """Read an image as float32 (H, W, channels) in [0, 1]. Alpha is dropped, grey is repeated to RGB.
    A file over `max_pixels` pixels raises `DataError` before it is decoded."""
    path = Path(path)
    arr = _to_unit_float(_read_raw(path, max_pixels), path)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 2, 3, 4):
        raise DataError(f"{path}: unexpected image shape {arr.shape}")
    if arr.shape[2] in (2, 4):  # grey+alpha or RGBA: drop alpha
        arr = arr[..., :-1]
    if channels == 3 and arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif channels == 1 and arr.shape[2] == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGB2GRAY)[..., None]
    return np.ascontiguousarray(arr)


def read_mask(path, threshold: float = 0.5, invert: bool = False, max_pixels: int | None = MAX_PIXELS) -> np.ndarray:
    """Read a mask as float32 (H, W, 1) in {0, 1}.

    Colour masks are reduced by their maximum channel (alpha ignored). Integer masks whose values
    are all 0/1 are label maps and kept as they are; others are compared with `threshold` x full scale.
    A file over `max_pixels` pixels raises `DataError` before it is decoded.
    """
    path = Path(path)
    raw = _read_raw(path, max_pixels)
    return binarise_mask(mask_plane(raw, path), threshold, invert, path).astype(np.float32)[..., None]


def mask_plane(raw: np.ndarray, path) -> np.ndarray:
    """A decoded mask file as one (H, W) plane: colour masks by their maximum channel, alpha ignored."""
    if raw.ndim == 3:  # np.maximum over channel slices: ~10x faster than .max(axis=2) on a short last axis
        raw = np.maximum(np.maximum(raw[..., 0], raw[..., 1]), raw[..., 2]) if raw.shape[2] >= 3 else raw[..., 0]
    if raw.ndim != 2:
        raise DataError(f"{path}: unexpected mask shape {raw.shape}")
    return raw


def binarise_mask(plane: np.ndarray, threshold: float = 0.5, invert: bool = False, path="mask") -> np.ndarray:
    """Foreground (bool, H x W) of a mask plane: 0/1 integer label maps as they are, others > threshold x full scale."""
    if np.issubdtype(plane.dtype, np.integer) and plane.size and plane.max() <= 1:
        fg = plane > 0
    else:
        fg = _to_unit_float(plane, Path(path)) > threshold
    return ~fg if invert else fg


# --- finding pairs ---------------------------------------------------------------------------

def scan_folder(folder: Path, key=lambda stem: stem) -> tuple[dict[str, Path], list[tuple[Path, Path]]]:
    """Image files in `folder` by `key(stem)` (hidden files and other extensions ignored), and the
    (duplicate, first) path pairs of files whose keys collide, e.g. `a.png` and `a.jpg`."""
    files: dict[str, Path] = {}
    duplicates = []
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."):
            k = key(p.stem)
            if k in files:
                duplicates.append((p, files[k]))
            else:
                files[k] = p
    return files, duplicates


def mask_key(image_stems):
    """Maps a mask file stem to the image stem it belongs to (dropping `_mask`, `_segmentation`, ...)."""
    return lambda stem: stem if stem in image_stems else MASK_STEM_SUFFIXES.sub("", stem)


def _images_in(folder: Path, key=lambda stem: stem) -> dict[str, Path]:
    files, duplicates = scan_folder(folder, key)
    for p, first in duplicates:
        log.warning("%s: duplicate stem %r (also %s); using the first", p, p.stem, first.name)
    return files


def find_pairs(root) -> list[tuple[Path, Path]]:
    """(image, mask) paths from `root/images` and `root/masks`, matched by stem, sorted by stem.

    Mask stems may carry a common suffix (`_mask`, `_segmentation`, `_lesion`, ...). Unmatched
    files are logged and skipped; no pair at all raises `DataError`.
    """
    root = Path(root)
    img_dir, mask_dir = root / "images", root / "masks"
    for d in (root, img_dir, mask_dir):
        if not d.is_dir():
            raise DataError(f"{d}: folder not found (a dataset is a folder with images/ and masks/)")
    images = _images_in(img_dir)
    masks = _images_in(mask_dir, mask_key(images))
    pairs = [(images[s], masks[s]) for s in sorted(images) if s in masks]
    missing_mask = sorted(set(images) - set(masks))
    missing_image = sorted(set(masks) - set(images))
    if missing_mask:
        log.warning("%d images without a mask skipped (first: %s)", len(missing_mask), images[missing_mask[0]])
    if missing_image:
        log.warning("%d masks without an image skipped (first: %s)", len(missing_image), masks[missing_image[0]])
    if not pairs:
        raise DataError(f"{root}: no image/mask pairs with matching file stems found")
    return pairs


# --- splits ----------------------------------------------------------------------------------

def split_pairs(pairs, *, val_fraction=0.1, test_fraction=0.2, seed=0):
    """Deterministic shuffled train/val/test split. Returns three lists."""
    idx = np.random.default_rng(seed).permutation(len(pairs))
    n_test = int(round(len(pairs) * test_fraction))
    n_val = int(round(len(pairs) * val_fraction))
    if len(pairs) - n_test - n_val < 1:
        raise DataError(f"{len(pairs)} pairs are too few for val {val_fraction} and test {test_fraction} fractions")
    test, val, train = idx[:n_test], idx[n_test:n_test + n_val], idx[n_test + n_val:]
    return [pairs[i] for i in train], [pairs[i] for i in val], [pairs[i] for i in test]


def kfold_pairs(pairs, *, folds=5, fold=0, val_fraction=0.1, seed=0):
    """Fold `fold` of a deterministic k-fold split: that fold is the test set, and `val_fraction`
    of the rest is validation (paper 002: 5 folds, 72 / 8 / 20 %). Returns (train, val, test)."""
    if not 0 <= fold < folds:
        raise ValueError(f"fold must be in [0, {folds}), got {fold}")
    idx = np.random.default_rng(seed).permutation(len(pairs))
    parts = np.array_split(idx, folds)
    test = parts[fold]
    rest = np.concatenate([p for i, p in enumerate(parts) if i != fold])
    n_val = int(round(len(rest) * val_fraction))
    val, train = rest[:n_val], rest[n_val:]
    return [pairs[i] for i in train], [pairs[i] for i in val], [pairs[i] for i in test]


def read_folds_csv(path) -> dict[str, int]:
    """A `stem,fold` CSV (as shipped with MP-Set) as a dict."""
    with open(path, newline="") as f:
        return {row["stem"]: int(row["fold"]) for row in csv.DictReader(f)}


# --- geometry --------------------------------------------------------------------------------

def fit_to_size(image, mask, cfg: DataConfig, fill=0.0):
    """Resize (or letterbox with `fill`) an image and its mask to `cfg.image_size`."""
    h, w = cfg.image_size
    ih, iw = image.shape[:2]
    if cfg.fit == "resize":
        sh, sw = h, w
    else:
        s = min(h / ih, w / iw)
        sh, sw = max(1, round(ih * s)), max(1, round(iw * s))
    if (ih, iw) != (sh, sw):
        interp = cv2.INTER_AREA if sh < ih else cv2.INTER_LINEAR
        image = cv2.resize(image, (sw, sh), interpolation=interp).reshape(sh, sw, -1)
        if mask is not None:
            mask = (cv2.resize(mask, (sw, sh), interpolation=cv2.INTER_LINEAR) > 0.5).astype(np.float32)[..., None]
    if (sh, sw) != (h, w):
        image = np.pad(image, ((0, h - sh), (0, w - sw), (0, 0)), constant_values=0)
        image[sh:, :] = fill
        image[:, sw:] = fill
        if mask is not None:
            mask = np.pad(mask, ((0, h - sh), (0, w - sw), (0, 0)))
    return image, mask


def restore_size(prob: np.ndarray, original_hw, cfg: DataConfig) -> np.ndarray:
    """Map a model-size probability map (H, W, C) back to the original image size (inverse of `fit_to_size`)."""
    oh, ow = original_hw
    h, w = cfg.image_size
    if cfg.fit == "pad":
        s = min(h / oh, w / ow)
        prob = prob[:max(1, round(oh * s)), :max(1, round(ow * s))]
    out = cv2.resize(prob, (ow, oh), interpolation=cv2.INTER_LINEAR)
    return out.reshape(oh, ow, -1)


def load_pair(pair, cfg: DataConfig, fill=0.0):
    """Read, binarise and fit one (image, mask) pair to the model size."""
    img_path, mask_path = pair
    image = read_image(img_path, cfg.channels, cfg.max_pixels)
    mask = read_mask(mask_path, cfg.mask_threshold, cfg.mask_invert, cfg.max_pixels)
    if image.shape[:2] != mask.shape[:2]:
        raise DataError(f"{mask_path}: mask size {mask.shape[1]}x{mask.shape[0]} differs from image "
                        f"{img_path.name} size {image.shape[1]}x{image.shape[0]}")
    return fit_to_size(image, mask, cfg, fill)


def load_arrays(pairs, cfg: DataConfig):
    """All pairs as stacked arrays (N, H, W, C) and (N, H, W, 1) at model size."""
    loaded = [load_pair(p, cfg) for p in pairs]
    return np.stack([x for x, _ in loaded]), np.stack([y for _, y in loaded])


def mean_pixel(pairs, cfg: DataConfig, max_images=200) -> tuple[float, ...]:
    """Mean pixel value per channel over (up to `max_images` of) the images: paper 002's fill value."""
    step = max(1, len(pairs) // max_images)
    means = [read_image(p[0], cfg.channels, cfg.max_pixels).reshape(-1, cfg.channels).mean(0) for p in pairs[::step]]
    return tuple(float(v) for v in np.mean(means, axis=0))


def normalization_arrays(cfg: DataConfig):
    """(mean, std) float32 arrays of cfg.channels values, or None; grey input uses the RGB averages."""
    if cfg.normalization is None:
        return None
    mean, std = (np.asarray(cfg.normalization[k], np.float32) for k in ("mean", "std"))
    if cfg.channels == 1:
        mean, std = mean.mean(keepdims=True), std.mean(keepdims=True)
    return mean, std


def normalize(images, cfg: DataConfig):
    """What the model is fed: `(x - mean) / std` per channel when `cfg.normalization` is set, else `images`."""
    stats = normalization_arrays(cfg)
    if stats is None:
        return images
    return ((images - stats[0]) / stats[1]).astype(np.float32)


# --- augmentation and tf.data ----------------------------------------------------------------

def make_augmentation(fill=0.0, *, shift=0.2, rotate=45.0, scale=(0.9, 1.1), flips=True, brightness_contrast=0.2):
    """Albumentations pipeline applied identically to image and mask (paper 002: 20 % shift,
    45 degree rotation, flips, empty space filled with the dataset's mean pixel; mask filled with 0)."""
    import albumentations as A

    ops = []
    if flips:
        ops += [A.HorizontalFlip(p=0.5), A.VerticalFlip(p=0.5)]
    ops.append(A.Affine(translate_percent=(-shift, shift), rotate=(-rotate, rotate), scale=scale,
                        border_mode=cv2.BORDER_CONSTANT, fill=fill, fill_mask=0, p=0.8))
    if brightness_contrast:
        ops.append(A.RandomBrightnessContrast(brightness_contrast, brightness_contrast, p=0.5))
    return A.Compose(ops)


def make_dataset(pairs, cfg: DataConfig, *, batch_size=8, augment=None, shuffle=False, seed=0, cache=True,
                 fill=0.0, prefetch: int | None = None, decode_workers: int | None = None):
    """A `tf.data.Dataset` of (image, mask) batches that decodes in parallel, caches and prefetches.

    `cache`: True or "memory" keeps decoded, fitted images in RAM after the first epoch; a path caches
    them in files with that prefix (for sets larger than RAM); False or "none" decodes every epoch.
    Augmentation runs every epoch after the cache, so each epoch sees new transforms.
    `prefetch` batches and `decode_workers` parallel decoders default to tf.data's autotuning.
    Normalisation (`cfg.normalization`) comes last, on the augmented [0, 1] image.
    """
    import tensorflow as tf

    autotune = tf.data.AUTOTUNE
    h, w = cfg.image_size
    paths = np.array([[str(a), str(b)] for a, b in pairs])

    def _load(i):
        img, mask = load_pair(tuple(Path(p) for p in paths[int(i)]), cfg, fill)
        return img.astype(np.float32), mask.astype(np.float32)

    def _augment(img, mask):
        out = augment(image=img, mask=mask)
        return np.clip(out["image"], 0, 1).astype(np.float32), out["mask"].astype(np.float32)

    def _set_shapes(img, mask):
        img.set_shape((h, w, cfg.channels))
        mask.set_shape((h, w, 1))
        return img, mask

    ds = tf.data.Dataset.range(len(pairs))
    ds = ds.map(lambda i: tf.numpy_function(_load, [i], (tf.float32, tf.float32)),
                num_parallel_calls=decode_workers or autotune, deterministic=True).map(_set_shapes)
    if cache is True or cache == "memory":
        ds = ds.cache()
    elif cache and cache != "none":
        Path(cache).parent.mkdir(parents=True, exist_ok=True)
        ds = ds.cache(str(cache))
    if shuffle:
        ds = ds.shuffle(len(pairs), seed=seed, reshuffle_each_iteration=True)
    if augment is not None:
        ds = ds.map(lambda x, y: tf.numpy_function(_augment, [x, y], (tf.float32, tf.float32)),
                    num_parallel_calls=decode_workers or autotune).map(_set_shapes)
    stats = normalization_arrays(cfg)
    if stats is not None:
        mean, std = (tf.constant(v) for v in stats)
        ds = ds.map(lambda x, y: ((x - mean) / std, y), num_parallel_calls=decode_workers or autotune)
    return ds.batch(batch_size).prefetch(autotune if prefetch is None else prefetch)
