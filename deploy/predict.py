"""Segment new images with a trained model: a run folder, a `.keras`, a `.tflite` or an `.onnx` file.

    python predict.py SOURCE --model RUN_DIR|model.keras|model.tflite|model.onnx [--output DIR]

SOURCE is one image, a folder (searched recursively for every format `zoo.training.data` reads), a glob
pattern, or a video file (one mask per frame). Every image is preprocessed exactly as in training: read by
`data.read_image`, fitted to the model input (`data.fit_to_size`: resize, or keep the aspect ratio and pad),
normalised (`data.normalize`); the foreground probability is mapped back to the image's own size
(`data.restore_size`) and thresholded, as train.py scores its test split (`metrics.json`). The settings come
from the model's record (`model_preprocessing`): a run's `config.json`; for a bare `.keras` its input shape and
the registry's normalisation for a zoo model name; for `.tflite` / `.onnx` the `.json` sidecar beside the file,
else `report.json` in the same folder (written by `python -m deploy`).

Three backends share one code path for pre- and post-processing: Keras (runs where TensorFlow runs), LiteRT
(`deploy.convert.LiteRTModel`, which quantizes int8 inputs and dequantizes int8 outputs) and onnxruntime.
`--tile` segments images much larger than the model input at the model's own resolution with overlapping
windows blended by Gaussian, linear or constant weights (as MONAI's sliding-window inference).

Outputs in `--output` (existing files of other names are kept; same-name outputs are replaced):
`masks/<name>.png` (0/255 at the image's size), `overlays/<name>.jpg`, with `--save-prob` `probabilities/<name>.png`
(16-bit, probability x 65535) or `.npy` (float32), `predictions.csv` (one row per image or video frame) and
`predict.json` (the settings used and the speed). A video gives `masks/<video stem>/frame_000000.png`, ... and
an overlay video `overlays/<video stem>.avi`.
"""
from __future__ import annotations

import argparse
import collections
import concurrent.futures as cf
import csv
import dataclasses
import glob
import io
import json
import math
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from zoo import quiet
from zoo.files import PARTIAL, ModelFileError, atomic_write_text
from zoo.training import data
from zoo.training.data import IMAGE_SUFFIXES, DataConfig, DataError
from zoo.training.choices import THRESHOLD
from zoo.training.run import CONFIG_FILE, RunConfig, RunError

VIDEO_SUFFIXES = {".avi", ".mp4", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"}
MODEL_SUFFIXES = (".keras", ".tflite", ".onnx")
BLENDS = ("gaussian", "linear", "constant")
CSV_FIELDS = ("file", "frame", "height", "width", "foreground_pixels", "foreground_percent", "components",
              "component_areas", "mean_probability", "mean_foreground_probability", "mask")
CONNECTIVITY = np.ones((3, 3), bool)  # 8-connected components: touching diagonally is one particle


class PredictError(ValueError):
    """A model or source that cannot be used (missing, corrupt, unknown format); one line naming it."""


# --- preprocessing: what the model was trained on ------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """How a file becomes a model input and a probability a mask; `source` says where the values came from."""

    image_size: tuple  # (height, width) of the model input
    channels: int = 3
    fit: str = RunConfig.fit  # train.py's default
    normalization: dict | None = None
    threshold: float = THRESHOLD
    source: str = ""

    def data_config(self, max_pixels: int | None = data.MAX_PIXELS) -> DataConfig:
        return DataConfig(tuple(self.image_size), self.channels, fit=self.fit, normalization=self.normalization,
                          max_pixels=max_pixels)

    def describe(self) -> str:
        h, w = self.image_size
        norm = "[0, 1] pixels" if self.normalization is None else \
            f"(x - mean) / std, mean {tuple(self.normalization['mean'])}, std {tuple(self.normalization['std'])}"
        return f"{h}x{w}x{self.channels}, fit {self.fit}, {norm}, threshold {self.threshold:g} (from {self.source})"


def _read_json(path: Path) -> dict | None:
    """A JSON object from `path`, or None when there is no such file; PredictError when it is unreadable."""
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise PredictError(f"{path}: cannot read ({e.__class__.__name__}: {' '.join(str(e).split())[:200]})") from None
    if not isinstance(value, dict):
        raise PredictError(f"{path}: expected a JSON object")
    return value


def _run_config_near(path: Path, input_shape: tuple):
    """The RunConfig of the run folder holding `path` (a run's best.keras, or a fold's), when its recorded input
    size and channels are the model's; else None."""

    for folder in (path.parent, path.parent.parent):
        if (folder / CONFIG_FILE).is_file():
            try:
                cfg = RunConfig.from_json(folder / CONFIG_FILE)
            except RunError:
                return None
            return cfg if tuple(cfg.input_shape()) == tuple(input_shape) else None
    return None


def _from_run_config(cfg, source: str) -> Preprocessing:
    return Preprocessing(tuple(cfg.image_size), cfg.channels, cfg.fit, cfg.input_normalization, THRESHOLD,
                         source)


def _lists(report: dict, name: str) -> bool:
    """`report.json` describes the file `name` (one of its TFLite variants, or its ONNX export)."""
    variants = report.get("variants") if isinstance(report.get("variants"), dict) else {}
    files = {v.get("file") for v in variants.values() if isinstance(v, dict)}
    onnx = report.get("onnx") if isinstance(report.get("onnx"), dict) else {}
    return name in files or (isinstance(onnx.get("path"), str) and Path(onnx["path"]).name == name)


def deployment_preprocessing(path: Path, input_shape: tuple) -> tuple[Preprocessing, list[str]]:
    """Preprocessing of a deployed `.tflite` / `.onnx` file: the "preprocessing" block of the `.json` beside it when
    there is one ({"image_size", "channels", "fit", "input_normalization", "threshold"}), else `report.json` in the
    same folder when it lists the file (input shape and normalisation; fit and threshold when recorded, else the fit
    of the recorded run's config.json while that is there), else the model's input shape alone with [0, 1] pixels.
    Returns it and notes for the user; `PredictError` when a record contradicts the file."""

    notes = []
    side_path = path.with_suffix(".json")
    side = _read_json(side_path) or {}
    block = side.get("preprocessing") if isinstance(side.get("preprocessing"), dict) else None
    report_path = path.parent / "report.json"
    report = _read_json(report_path) if block is None else None
    if report is not None and not _lists(report, path.name):
        notes.append(f"note: {report_path} is about other files (a later deploy into the same folder?); not used")
        report = None
    values = {"fit": None, "normalization": None, "threshold": THRESHOLD}
    if block is not None:
        source = str(side_path)
        recorded = (*block.get("image_size", input_shape[:2]), block.get("channels", input_shape[2]))
        if tuple(recorded) != tuple(input_shape):
            raise PredictError(f"{side_path}: preprocessing is for input {list(recorded)}, {path.name} takes "
                               f"{list(input_shape)}")
        values.update({k: block[k] for k in ("fit", "threshold") if block.get(k) is not None})
        values["normalization"] = block.get("input_normalization")
    elif report is not None:
        source = str(report_path)
        shape = report.get("input_shape")
        if shape is not None and tuple(shape) != tuple(input_shape):
            raise PredictError(f"{report_path}: input_shape {list(shape)} is not the one of {path.name} "
                               f"{list(input_shape)}")
        values["normalization"] = report.get("input_normalization")
        values.update({k: report[k] for k in ("fit", "threshold") if report.get(k) is not None})
        if values["fit"] is None and report.get("run"):  # a run's deploy: the run's fit, while the run is there
            config = Path(report["run"]) / CONFIG_FILE
            try:
                values["fit"] = RunConfig.from_json(config).fit
                source += f" and {config}"
            except RunError:
                notes.append(f"note: {report_path} does not record the fit and {config} is gone: using 'resize' "
                             "(train.py's default)")
        # a bare .keras deploy (no run) used train.py's default fit, resize
    else:
        source = f"{path.name}'s input shape"
        notes.append(f"note: no preprocessing in {side_path.name} and no report.json listing {path.name} beside it: "
                     "feeding [0, 1] pixels resized to the model input, without normalisation")
    try:
        pre = Preprocessing(tuple(input_shape[:2]), int(input_shape[2]), str(values["fit"] or RunConfig.fit),
                            values["normalization"], float(values["threshold"]), source)
        pre.data_config()  # checks fit and normalisation
    except (TypeError, ValueError) as e:
        raise PredictError(f"{source}: unusable preprocessing ({' '.join(str(e).split())[:200]})") from None
    return pre, notes


# --- backends ------------------------------------------------------------------------------------------

class KerasBackend:
    """A tf_keras model; runs where TensorFlow runs, any batch size."""

    kind = "keras"

    def __init__(self, model):
        self.model = model
        self.input_shape = tuple(model.input_shape[1:])
        self.fixed_batch = None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        out = self.model.predict_on_batch(x)
        if isinstance(out, (list, tuple)):  # deep supervision kept separate: the last head is the full model's
            out = out[-1]
        return np.asarray(out, np.float32)

    def describe(self) -> str:
        return "Keras (TensorFlow)"


class LiteRTBackend:
    """A `.tflite` file in LiteRT through `LiteRTModel` (int8 input quantized, int8 output dequantized)."""

    kind = "litert"

    def __init__(self, model_bytes: bytes, threads: int):
        from deploy.convert import LiteRTModel

        self.runner = LiteRTModel(model_bytes, num_threads=threads)
        self.input_shape = tuple(int(v) for v in self.runner.input["shape"][1:])
        self.fixed_batch = int(self.runner.input["shape"][0])
        self.threads = threads

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.runner.predict(x)

    def describe(self) -> str:
        dtype = np.dtype(self.runner.input["dtype"]).name
        return f"LiteRT ({self.threads} threads, {dtype} input)"


class OnnxBackend:
    """An `.onnx` file in onnxruntime (CPU)."""

    kind = "onnx"

    def __init__(self, path: Path, threads: int):
        import onnxruntime as ort

        ort.set_default_logger_severity(3)  # no warnings about attributes tf2onnx writes
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        dims = list(inp.shape)
        if len(dims) != 4 or not all(isinstance(d, int) and d > 0 for d in dims[1:]):
            raise PredictError(f"{path}: input shape {dims} is not (batch, height, width, channels) with a fixed size")
        self.input_shape = tuple(dims[1:])
        self.fixed_batch = dims[0] if isinstance(dims[0], int) and dims[0] > 0 else None
        self.threads = threads

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, np.float32)
        step = self.fixed_batch or len(x)
        outs = [self.session.run(None, {self.input_name: x[i:i + step]})[0] for i in range(0, len(x), step)]
        return np.concatenate(outs).astype(np.float32, copy=False)

    def describe(self) -> str:
        return f"onnxruntime ({self.threads} threads)"


@dataclasses.dataclass
class Predictor:
    """A backend with the preprocessing it was trained with."""

    backend: object
    preprocessing: Preprocessing
    name: str
    notes: list = dataclasses.field(default_factory=list)

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """Foreground probabilities (N, H, W, 1) of a batch already fitted and normalised."""
        from zoo.training.metrics import foreground

        out = self.backend(x)
        if out.ndim == 3:
            out = out[..., None]
        return foreground(out)


def _threads(threads: int | None) -> int:
    return max(1, threads or os.cpu_count() or 1)


def load_predictor(model, *, threads: int | None = None, threshold: float | None = None) -> Predictor:
    """A `Predictor` for a run folder, a `.keras`, a `.tflite` or an `.onnx` file. `PredictError` (one line naming
    the file) for a model that is missing, corrupt or of another kind."""
    path = Path(model)
    if path.is_dir():
        pred = _load_run(path)
    elif not path.exists():
        raise PredictError(f"{path}: model not found (expected a run folder or a .keras, .tflite or .onnx file)")
    elif path.suffix == ".keras":
        pred = _load_keras(path)
    elif path.suffix == ".tflite":
        pred = _load_tflite(path, _threads(threads))
    elif path.suffix == ".onnx":
        pred = _load_onnx(path, _threads(threads))
    else:
        raise PredictError(f"{path}: not a model file (expected a run folder or a .keras, .tflite or .onnx file)")
    shape = (*pred.preprocessing.image_size, pred.preprocessing.channels)
    if tuple(pred.backend.input_shape) != tuple(shape):
        raise PredictError(f"{path}: model input {tuple(pred.backend.input_shape)} differs from the recorded "
                           f"preprocessing {shape} ({pred.preprocessing.source})")
    if threshold is not None:
        if not 0 <= threshold < 1:
            raise PredictError(f"--threshold is a probability in [0, 1), got {threshold:g}")
        pred.preprocessing = dataclasses.replace(pred.preprocessing, threshold=float(threshold))
    return pred


def _keras_model(path: Path):
    from zoo.files import load_model

    try:
        model = load_model(path, compile=False)
    except ModelFileError as e:
        raise PredictError(str(e)) from None
    if None in tuple(model.input_shape[1:]) or len(model.input_shape) != 4:
        raise PredictError(f"{path}: model input {model.input_shape} has no fixed height, width and channels")
    return model


def _load_run(path: Path) -> Predictor:
    from zoo.training.run import Run, RunError

    try:
        recorded = Run.load(path)
    except RunError as e:
        raise PredictError(str(e)) from None
    model_path = recorded.model_path()
    model = _keras_model(model_path)
    pre = _from_run_config(recorded.config, str(path / "config.json"))
    return Predictor(KerasBackend(model), pre, path.resolve().name)


def _load_keras(path: Path) -> Predictor:
    import zoo

    model = _keras_model(path)
    shape = tuple(model.input_shape[1:])
    cfg = _run_config_near(path, shape)
    if cfg is not None:
        source = str(path.parent / "config.json") if (path.parent / "config.json").is_file() else \
            str(path.parent.parent / "config.json")
        pre = _from_run_config(cfg, source)
        return Predictor(KerasBackend(model), pre, f"{Path(source).parent.resolve().name}-{path.stem}")
    else:
        known = model.name in zoo.list_models()
        norm = zoo.get_model_info(model.name).get("input_normalization") if known else None
        source = f"{path.name}'s input shape" + (f" and the registry entry of {model.name}" if known else "")
        pre = Preprocessing(shape[:2], shape[2], RunConfig.fit, norm, THRESHOLD, source)
    return Predictor(KerasBackend(model), pre, path.stem)


def _load_tflite(path: Path, threads: int) -> Predictor:
    try:
        blob = path.read_bytes()
        backend = LiteRTBackend(blob, threads)
    except (OSError, ValueError, RuntimeError) as e:
        raise PredictError(f"{path}: corrupt or not a TFLite model ({' '.join(str(e).split())[:200]})") from None
    if len(backend.input_shape) != 3:
        raise PredictError(f"{path}: input shape {backend.runner.input['shape'].tolist()} is not (1, H, W, C)")
    pre, notes = deployment_preprocessing(path, backend.input_shape)
    return Predictor(backend, pre, path.stem, notes)


def _load_onnx(path: Path, threads: int) -> Predictor:
    try:
        backend = OnnxBackend(path, threads)
    except PredictError:
        raise
    except Exception as e:  # noqa: BLE001 - onnxruntime raises its own exception types for a bad file
        raise PredictError(f"{path}: corrupt or not an ONNX model ({' '.join(str(e).split())[:200]})") from None
    pre, notes = deployment_preprocessing(path, backend.input_shape)
    return Predictor(backend, pre, path.stem, notes)


# --- sources -------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Item:
    """One input file: `path`, its name relative to the source (`rel`, used for output names) and its kind."""

    path: Path
    rel: Path
    kind: str  # "image" or "video"


def _kind(path: Path) -> str | None:
    suffix = path.suffix.lower()
    return "image" if suffix in IMAGE_SUFFIXES else "video" if suffix in VIDEO_SUFFIXES else None


def _inside(path: Path, folder: Path | None) -> bool:
    if folder is None:
        return False
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def find_inputs(source, exclude=None) -> list[Item]:
    """The images (and videos) of `source`: one file, a folder searched recursively for images (hidden files and
    anything inside `exclude`, the output folder, left out), or a glob pattern (images and videos it matches)."""
    text = str(source)
    path = Path(text)
    exclude = Path(exclude) if exclude is not None else None
    if path.is_file():
        kind = _kind(path)
        if kind is None:
            raise PredictError(f"{path}: not an image or video file (image suffixes: "
                               f"{', '.join(sorted(IMAGE_SUFFIXES))}; video: {', '.join(sorted(VIDEO_SUFFIXES))})")
        return [Item(path, Path(path.name), kind)]
    if path.is_dir():
        items = [Item(p, p.relative_to(path), "image") for p in sorted(path.rglob("*"))
                 if p.is_file() and _kind(p) == "image" and not any(part.startswith(".") for part in
                                                                     p.relative_to(path).parts)
                 and not _inside(p, exclude)]
        if not items:
            raise PredictError(f"{path}: no image files in this folder or below")
        return items
    if glob.has_magic(text):
        parts = Path(text).parts
        fixed = next((i for i, part in enumerate(parts) if glob.has_magic(part)), len(parts))
        base = Path(*parts[:fixed]) if fixed else Path(".")
        items = []
        for p in sorted(Path(m) for m in glob.glob(text, recursive=True)):
            if p.is_file() and _kind(p) and not _inside(p, exclude):
                try:
                    rel = p.relative_to(base)
                except ValueError:
                    rel = Path(p.name)
                items.append(Item(p, rel, _kind(p)))
        if not items:
            raise PredictError(f"{text}: no image or video files match")
        return items
    raise PredictError(f"{path}: no such image, video, folder or glob match")


def output_names(items: list[Item]) -> dict:
    """{item: relative output stem}: `sub/name` without the suffix, or `sub/name_<suffix>` when two inputs would
    share a stem (`a.png` and `a.jpg`)."""
    stems = collections.Counter(it.rel.with_suffix("") for it in items)
    return {it: (it.rel.with_suffix("") if stems[it.rel.with_suffix("")] == 1 else
                 it.rel.with_name(f"{it.rel.stem}_{it.rel.suffix.lstrip('.').lower()}")) for it in items}


# --- tiling --------------------------------------------------------------------------------------------

def window_starts(length: int, window: int, overlap: float) -> list[int]:
    """Start offsets of windows of `window` pixels covering `length` with at least `overlap` (a fraction) between
    neighbours; the last window ends at the edge. `length` must be at least `window`."""
    stride = max(1, int(window * (1 - overlap)))
    starts = list(range(0, length - window + 1, stride))
    if starts[-1] != length - window:
        starts.append(length - window)
    return starts


def blend_weights(shape, mode: str = "gaussian", sigma_scale: float = 0.125) -> np.ndarray:
    """(H, W) weights of one window: Gaussian (sigma = sigma_scale x size, MONAI's and nnU-Net's choice), linear
    (a pyramid falling from the centre to the border) or constant. Never zero, so every pixel has a weight."""
    h, w = shape
    if mode == "constant":
        return np.ones((h, w), np.float32)
    axes = []
    for n in (h, w):
        centre = (n - 1) / 2
        if mode == "gaussian":
            sigma = max(sigma_scale * n, 1e-3)
            axes.append(np.exp(-0.5 * ((np.arange(n) - centre) / sigma) ** 2))
        elif mode == "linear":
            axes.append(1 - np.abs(np.arange(n) - centre) / (centre + 1))
        else:
            raise ValueError(f"unknown blend {mode!r}; choose from {', '.join(BLENDS)}")
    weights = np.outer(axes[0], axes[1]).astype(np.float32)
    weights /= weights.max()
    return np.maximum(weights, max(float(weights[weights > 0].min()), 1e-4))


def tiled_probabilities(predictor: Predictor, image: np.ndarray, *, overlap: float = 0.25, blend: str = "gaussian",
                        batch_size: int = 8) -> np.ndarray:
    """Foreground probability (H, W, 1) of a [0, 1] image of any size from windows of the model's input size at
    the image's own resolution, weighted by `blend` where they overlap. An image smaller than a window is padded
    (zeros, as `--fit pad` pads) and the padding cropped off again."""
    pre = predictor.preprocessing
    th, tw = pre.image_size
    ih, iw = image.shape[:2]
    ph, pw = max(ih, th), max(iw, tw)
    if (ph, pw) != (ih, iw):
        image = np.pad(image, ((0, ph - ih), (0, pw - iw), (0, 0)))
    x = data.normalize(image, pre.data_config(None))
    weights = blend_weights((th, tw), blend)[..., None]
    total = np.zeros((ph, pw, 1), np.float32)
    norm = np.zeros((ph, pw, 1), np.float32)
    corners = [(y, x0) for y in window_starts(ph, th, overlap) for x0 in window_starts(pw, tw, overlap)]
    for i in range(0, len(corners), batch_size):
        chunk = corners[i:i + batch_size]
        probs = predictor.probabilities(np.stack([x[y:y + th, x0:x0 + tw] for y, x0 in chunk]))
        for (y, x0), p in zip(chunk, probs):
            total[y:y + th, x0:x0 + tw] += weights * p
            norm[y:y + th, x0:x0 + tw] += weights
    return (total / norm)[:ih, :iw]


# --- one image's outputs -------------------------------------------------------------------------------

def image_statistics(prob: np.ndarray, threshold: float) -> tuple[np.ndarray, dict]:
    """The mask (bool, H x W) and its CSV numbers: foreground pixels and %, 8-connected components and their
    areas (largest first), mean probability over the image and over the predicted foreground."""
    from scipy import ndimage

    p = prob[..., 0] if prob.ndim == 3 else prob
    mask = p > threshold
    labels, count = ndimage.label(mask, structure=CONNECTIVITY)
    areas = sorted(np.bincount(labels.ravel())[1:].tolist(), reverse=True) if count else []
    fg = int(mask.sum())
    stats = {"height": p.shape[0], "width": p.shape[1], "foreground_pixels": fg,
             "foreground_percent": round(100 * fg / p.size, 4) if p.size else 0.0, "components": int(count),
             "component_areas": " ".join(map(str, areas)), "mean_probability": round(float(p.mean()), 6),
             "mean_foreground_probability": round(float(p[mask].mean()), 6) if fg else ""}
    return mask, stats


def overlay(image: np.ndarray, mask: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """A BGR uint8 picture of the [0, 1] image with the foreground tinted red and outlined in yellow."""
    rgb = image if image.shape[2] == 3 else np.repeat(image, 3, axis=2)
    bgr = np.ascontiguousarray((np.clip(rgb[..., ::-1], 0, 1) * 255 + 0.5).astype(np.uint8))
    if mask.any():
        tint = bgr.copy()
        tint[mask] = (0, 0, 255)
        bgr = cv2.addWeighted(tint, alpha, bgr, 1 - alpha, 0)
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(bgr, contours, -1, (0, 255, 255), 1)
    return bgr


def _write(path: Path, blob: bytes) -> None:
    """Write a file through a temporary name in the same folder, so an interrupted run never leaves a half-written
    output under its final name (no fsync: thousands of masks would wait on the disk)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}{PARTIAL}")
    try:
        tmp.write_bytes(blob)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _encode(ext: str, image: np.ndarray, params=()) -> bytes:
    ok, buf = cv2.imencode(ext, image, list(params))
    if not ok:
        raise OSError(f"cannot encode {ext} image")
    return buf.tobytes()


# --- the loop ------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Options:
    """What `predict` writes and how it tiles; the command line's flags."""

    output: Path
    batch_size: int = 8
    save_prob: str | None = None  # "png" (16-bit) or "npy"
    overlays: bool = True
    tile: bool = False
    tile_overlap: float = 0.25
    blend: str = "gaussian"
    max_pixels: int | None = data.MAX_PIXELS
    workers: int = 2  # threads reading and writing files beside inference
    progress: bool = True


@dataclasses.dataclass
class _Prepared:
    """One image (or video frame) read and prepared for the model."""

    item: Item
    frame: int | None
    image: np.ndarray  # [0, 1] (H, W, C) at the original size
    x: np.ndarray | None  # the fitted, normalised model input (None when tiling)


def _to_input(frame_bgr: np.ndarray, channels: int) -> np.ndarray:
    """A decoded video frame (BGR or grey, 8 or 16 bit) as read_image returns an image: float32 RGB/grey in [0, 1]."""
    arr = frame_bgr.astype(np.float32) / float(np.iinfo(frame_bgr.dtype).max)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.shape[2] == 4:
        arr = arr[..., :3]
    if arr.shape[2] == 3:
        arr = arr[..., ::-1]
    if channels == 3 and arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif channels == 1 and arr.shape[2] == 3:
        arr = cv2.cvtColor(np.ascontiguousarray(arr), cv2.COLOR_RGB2GRAY)[..., None]
    return np.ascontiguousarray(arr)


class _Run:
    """State of one `predict` call: the predictor, options, output names, CSV rows and open video writers."""

    def __init__(self, predictor: Predictor, items: list[Item], opts: Options, log):
        self.predictor, self.items, self.opts, self.log = predictor, items, opts, log
        self.cfg = predictor.preprocessing.data_config(opts.max_pixels)
        self.names = output_names(items)
        self.rows: list[dict] = []
        self.skipped: list[str] = []
        self.videos: dict = {}  # item -> (cv2.VideoWriter or None, fps)
        self.progress = lambda n: None  # called with 1 per image done or skipped

    # reading ---------------------------------------------------------------------------------------------

    def prepare(self, item: Item, image: np.ndarray, frame: int | None = None) -> _Prepared:
        x = None
        if not self.opts.tile:
            x = data.normalize(data.fit_to_size(image, None, self.cfg)[0], self.cfg)
        return _Prepared(item, frame, image, x)

    def read(self, item: Item) -> _Prepared:
        return self.prepare(item, data.read_image(item.path, self.cfg.channels, self.cfg.max_pixels))

    def frames(self, item: Item):
        """(frame index, [0, 1] image) of a video, in order; a video OpenCV cannot open is one skipped line."""
        cap = cv2.VideoCapture(str(item.path))
        try:
            if not cap.isOpened():
                raise DataError(f"{item.path}: cannot open video (not a format this OpenCV build decodes)")
            fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
            self.videos[item] = [None, fps if math.isfinite(fps) and fps > 0 else 25.0]
            index = 0
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                yield index, _to_input(frame, self.cfg.channels)
                index += 1
            if index == 0:
                raise DataError(f"{item.path}: no frame could be decoded")
        finally:
            cap.release()

    def prepared(self, pool: cf.Executor):
        """Every image and frame prepared, in input order, reading up to a few batches ahead in `pool`; unreadable
        files are skipped with one line each."""
        ahead = collections.deque()
        limit = max(4, 2 * self.opts.batch_size)

        def drain(keep: int):
            while len(ahead) > keep:
                item, future = ahead.popleft()
                try:
                    yield future.result()
                except (DataError, OSError, cv2.error, ValueError) as e:
                    self.skip(item, e)

        for item in self.items:
            if item.kind == "video":
                yield from drain(0)
                try:
                    for index, image in self.frames(item):
                        ahead.append((item, pool.submit(self.prepare, item, image, index)))
                        yield from drain(limit)
                except (DataError, OSError, cv2.error) as e:
                    self.skip(item, e)
                yield from drain(0)
            else:
                ahead.append((item, pool.submit(self.read, item)))
                yield from drain(limit)
        yield from drain(0)

    def skip(self, item: Item, err: Exception) -> None:
        text = " ".join(str(err).split()) or err.__class__.__name__
        line = text if str(item.path) in text else f"{item.path}: {text}"
        self.skipped.append(line)
        self.log(f"skipped {line}")
        if item.kind == "image":
            self.progress(1)

    # writing ---------------------------------------------------------------------------------------------

    def paths(self, p: _Prepared) -> dict:
        stem = self.names[p.item]
        if p.frame is not None:
            stem = stem / f"frame_{p.frame:06d}"
        out = self.opts.output
        paths = {"mask": out / "masks" / stem.with_suffix(".png")}
        if self.opts.overlays and p.frame is None:
            paths["overlay"] = out / "overlays" / stem.with_suffix(".jpg")
        if self.opts.save_prob:
            paths["prob"] = out / "probabilities" / stem.with_suffix(f".{self.opts.save_prob}")
        return paths

    def finish(self, p: _Prepared, prob: np.ndarray) -> tuple[dict, np.ndarray | None]:
        """Write one image's mask, overlay and probabilities; return its CSV row (and the overlay of a video frame)."""
        mask, stats = image_statistics(prob, self.predictor.preprocessing.threshold)
        paths = self.paths(p)
        _write(paths["mask"], _encode(".png", mask.astype(np.uint8) * 255))
        picture = None
        if self.opts.overlays:
            picture = overlay(p.image, mask)
            if "overlay" in paths:
                _write(paths["overlay"], _encode(".jpg", picture, (cv2.IMWRITE_JPEG_QUALITY, 90)))
        if "prob" in paths:
            plane = np.clip(prob[..., 0], 0, 1)
            if self.opts.save_prob == "npy":
                buf = io.BytesIO()
                np.save(buf, plane.astype(np.float32))
                _write(paths["prob"], buf.getvalue())
            else:
                _write(paths["prob"], _encode(".png", np.round(plane * 65535).astype(np.uint16)))
        row = {"file": p.item.rel.as_posix(), "frame": "" if p.frame is None else p.frame, **stats,
               "mask": paths["mask"].relative_to(self.opts.output).as_posix()}
        return row, picture

    def video_frame(self, item: Item, picture: np.ndarray) -> None:
        """Append a frame's overlay to the video's overlay file (`overlays/<stem>.avi`, Motion-JPEG)."""
        state = self.videos.setdefault(item, [None, 25.0])
        if state[0] is None:
            path = self.opts.output / "overlays" / self.names[item].with_suffix(".avi")
            path.parent.mkdir(parents=True, exist_ok=True)
            h, w = picture.shape[:2]
            state[0] = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), state[1], (w, h))
        state[0].write(picture)

    def close_videos(self) -> None:
        for state in self.videos.values():
            if state[0] is not None:
                state[0].release()
                state[0] = None

    # inference -------------------------------------------------------------------------------------------

    def batches(self, prepared):
        """Lists of prepared images: `batch_size` at a time, or one when tiling (its windows make the batch)."""
        size = 1 if self.opts.tile else self.opts.batch_size
        batch = []
        for p in prepared:
            batch.append(p)
            if len(batch) == size:
                yield batch
                batch = []
        if batch:
            yield batch

    def probabilities(self, batch: list[_Prepared]) -> list[np.ndarray]:
        """Each image's foreground probability (H, W, 1) at its original size."""
        if self.opts.tile:
            return [tiled_probabilities(self.predictor, p.image, overlap=self.opts.tile_overlap, blend=self.opts.blend,
                                        batch_size=self.opts.batch_size) for p in batch]
        probs = self.predictor.probabilities(np.stack([p.x for p in batch]))
        return [data.restore_size(prob, p.image.shape[:2], self.cfg) for p, prob in zip(batch, probs)]


def expected_count(items: list[Item]) -> int:
    """Images plus the frames the videos announce (for the progress bar)."""
    total = 0
    for it in items:
        if it.kind == "video":
            cap = cv2.VideoCapture(str(it.path))
            total += max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)) if cap.isOpened() else 0
            cap.release()
        else:
            total += 1
    return total


def predict(predictor: Predictor, items: list[Item], opts: Options, log=None) -> dict:
    """Segment every item; write the outputs into `opts.output` and return the summary written to predict.json
    (images, skipped, seconds, images per second, settings). Reading and writing run in `opts.workers` threads
    beside inference; predictions.csv is written (also after Ctrl-C) with the rows done so far."""
    from tqdm import tqdm

    opts.output.mkdir(parents=True, exist_ok=True)
    bar = tqdm(total=expected_count(items), unit="img", dynamic_ncols=True, disable=not opts.progress,
               file=sys.stderr, smoothing=0.1)
    log = log or (lambda text: bar.write(text, file=sys.stderr))
    state = _Run(predictor, items, opts, log)
    state.progress = bar.update
    start = time.perf_counter()
    pending = collections.deque()  # (prepared, future of finish) in input order

    def collect(keep: int):
        while len(pending) > keep:
            p, future = pending.popleft()
            try:
                row, picture = future.result()
            except (OSError, cv2.error, ValueError) as e:
                state.skip(p.item, e)
                continue
            state.rows.append(row)
            if p.frame is not None and picture is not None:
                state.video_frame(p.item, picture)
            state.progress(1)

    interrupted = False
    try:
        with cf.ThreadPoolExecutor(max(1, opts.workers), thread_name_prefix="predict-read") as readers, \
                cf.ThreadPoolExecutor(max(1, opts.workers), thread_name_prefix="predict-write") as writers:
            for batch in state.batches(state.prepared(readers)):
                for p, prob in zip(batch, state.probabilities(batch)):
                    pending.append((p, writers.submit(state.finish, p, prob)))
                collect(max(4, 2 * opts.batch_size))
            collect(0)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
        state.close_videos()
        seconds = time.perf_counter() - start
        _write_csv(opts.output / "predictions.csv", state.rows)
        pre = predictor.preprocessing
        summary = {"model": predictor.name, "backend": predictor.backend.describe(),
                   "preprocessing": {"image_size": list(pre.image_size), "channels": pre.channels, "fit": pre.fit,
                                     "input_normalization": pre.normalization, "threshold": pre.threshold,
                                     "source": pre.source},
                   "tile": {"overlap": opts.tile_overlap, "blend": opts.blend} if opts.tile else None,
                   "images": len(state.rows), "skipped": state.skipped, "interrupted": interrupted,
                   "seconds": round(seconds, 3),
                   "images_per_second": round(len(state.rows) / seconds, 3) if seconds > 0 else None}
        atomic_write_text(opts.output / "predict.json", json.dumps(summary, indent=2))
    return summary


def _write_csv(path: Path, rows: list[dict]) -> None:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, out.getvalue())


# --- command line --------------------------------------------------------------------------------------

def build_parser():
    from zoo.cli import OneLineParser, add_output_flag

    p = OneLineParser(prog="python predict.py", description=__doc__.split("\n\n")[0] + "\n\n" +
                      __doc__.split("\n\n")[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", help="an image, a folder (recursive), a glob pattern in quotes, or a video file")
    p.add_argument("--model", required=True, help="a train.py run folder, or a .keras, .tflite or .onnx file")
    add_output_flag(p, None, "output folder (default: predictions/<run or model file name>); existing files of "
                             "other names are kept")
    p.add_argument("--threshold", type=float, default=None,
                   help=f"foreground where the probability is greater than this (default: the model record's, "
                        f"else {THRESHOLD}, the threshold train.py and deploy score with)")
    p.add_argument("--batch-size", type=int, default=8, help="images (or tiles) per model call; .tflite files run "
                                                             "them one at a time (batch 1)")
    p.add_argument("--save-prob", nargs="?", const="png", choices=("png", "npy"), default=None,
                   help="also write the probabilities: 16-bit PNG (probability x 65535, the default) or float32 .npy")
    p.add_argument("--no-overlay", dest="overlays", action="store_false", help="do not write overlay pictures")
    p.add_argument("--tile", action="store_true",
                   help="segment at the model's resolution with overlapping windows instead of resizing each image "
                        "to the model input (for images much larger than it)")
    p.add_argument("--tile-overlap", type=float, default=0.25, help="with --tile: overlap of neighbouring windows, "
                                                                     "a fraction of the window (default 0.25)")
    p.add_argument("--blend", choices=BLENDS, default="gaussian", help="with --tile: window weights where windows "
                                                                       "overlap (default gaussian)")
    p.add_argument("--threads", type=int, default=None, help="LiteRT and onnxruntime threads (default: all cores)")
    p.add_argument("--max-pixels", type=int, default=data.MAX_PIXELS,
                   help=f"refuse images with more pixels, read from the file header (default {data.MAX_PIXELS}; "
                        "0: no limit)")
    p.add_argument("--quiet", dest="progress", action="store_false", help="no progress bar")
    quiet.add_verbose_flag(p)
    return p


def main(argv=None) -> int:
    """`python predict.py`: 0 when images were segmented (unreadable ones are skipped with a line each), 2 for a
    model or source that cannot be used or when no input could be read (one line, no traceback), 130 after Ctrl-C
    (predictions.csv holds the images done so far)."""
    p = build_parser()
    a = p.parse_args(argv)
    if a.batch_size < 1:
        p.error(f"--batch-size must be at least 1, got {a.batch_size}")
    if not 0 <= a.tile_overlap < 1:
        p.error(f"--tile-overlap is a fraction in [0, 1), got {a.tile_overlap:g}")
    if a.threads is not None and a.threads < 1:
        p.error(f"--threads must be at least 1, got {a.threads}")
    if a.max_pixels < 0:
        p.error(f"--max-pixels must be 0 or more, got {a.max_pixels}")
    try:
        predictor = load_predictor(a.model, threads=a.threads, threshold=a.threshold)
        output = Path(a.output) if a.output else Path("predictions") / predictor.name
        if output.exists() and not output.is_dir():
            raise PredictError(f"{output}: --output exists and is not a folder")
        items = find_inputs(a.source, exclude=output)
    except (PredictError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for note in predictor.notes:
        print(note, file=sys.stderr)
    if output.is_dir() and any(output.iterdir()):
        print(f"note: {output} exists: outputs of the same name are replaced, other files kept", file=sys.stderr)
    print(f"{predictor.name}: {predictor.backend.describe()}; input {predictor.preprocessing.describe()}",
          file=sys.stderr)
    opts = Options(output, batch_size=a.batch_size, save_prob=a.save_prob, overlays=a.overlays, tile=a.tile,
                   tile_overlap=a.tile_overlap, blend=a.blend, max_pixels=a.max_pixels or None, progress=a.progress)
    try:
        summary = predict(predictor, items, opts)
    except OSError as e:
        print(f"error: {output}: cannot write ({e.__class__.__name__}: {' '.join(str(e).split())[:300]})",
              file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 - a failing backend (out of memory, a bad op) is one line too
        print(f"error: {predictor.name}: inference failed ({e.__class__.__name__}: {' '.join(str(e).split())[:300]}); "
              f"predictions.csv in {output} holds the images done before", file=sys.stderr)
        return 1
    skipped = f", {len(summary['skipped'])} skipped" if summary["skipped"] else ""
    rate = summary["images_per_second"] or 0
    print(f"{summary['images']} images{skipped} in {summary['seconds']:.1f} s ({rate:.1f} images/s); masks, overlays "
          f"and predictions.csv in {output}", file=sys.stderr)
    if summary["interrupted"]:
        print("interrupted: predictions.csv holds the images done so far", file=sys.stderr)
        return 130
    if not summary["images"]:
        print("error: no input could be segmented", file=sys.stderr)
        return 2
    return 0
