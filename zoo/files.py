"""Run files written safely and model files read safely: atomic writes (a file is the old or the complete
new one, never half-written), cleanup after a killed process, and `.keras` loading in safe mode."""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
import zipfile
from pathlib import Path

import tf_keras as keras

class ModelFileError(ValueError):
    """A model file that is missing, corrupt, not a Keras model, or unsafe to load; one line naming it."""


# --- atomic files ----------------------------------------------------------------------------

PARTIAL = ".partial"  # marker in temporary file names; `remove_partial_files` cleans up after a crash
_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read the process umask once: temporary files get the permissions a plain open() would give


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path beside `path` (same suffix); on success it is renamed onto `path`.

    The rename is atomic, so `path` always holds either the old or the complete new file, never a
    half-written one; on an exception the temporary file is removed and `path` is untouched.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=PARTIAL + path.suffix)
    os.close(fd)
    tmp = Path(tmp)
    os.chmod(tmp, 0o666 & ~_UMASK)
    try:
        yield tmp
        if tmp.is_file():
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path, text: str) -> None:
    """Write a text file atomically (temporary file in the same folder, then rename)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def atomic_write_bytes(path, blob: bytes) -> None:
    """Write a binary file atomically (temporary file in the same folder, then rename)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(blob)


def remove_partial_files(folder) -> list[Path]:
    """Delete temporary files a killed process left behind in `folder` and its subfolders."""
    found = [p for p in Path(folder).rglob(f".*{PARTIAL}*") if p.is_file()]
    for p in found:
        p.unlink()
    return found


# --- loading models --------------------------------------------------------------------------

def _load_for_inference(path: Path):
    """Keras' own loader reads the weights through a zip stream that rereads the archive from its start
    on every backward seek (minutes for a few-MB model); reading config and weights out first is exact
    and takes seconds. Safe mode as in Keras: no Python code from the file runs."""
    with zipfile.ZipFile(path) as z:
        config = json.loads(z.read("config.json"))
        weights = z.read("model.weights.h5") if "model.weights.h5" in z.namelist() else None
    if weights is None:
        return keras.models.load_model(path, safe_mode=True, compile=False)
    config["compile_config"] = None
    model = keras.saving.deserialize_keras_object(config, safe_mode=True)
    with tempfile.TemporaryDirectory() as tmp:
        weights_path = Path(tmp) / "model.weights.h5"
        weights_path.write_bytes(weights)
        model.load_weights(weights_path)
    return model


def load_model(path, *, compile: bool = True):
    """Load a `.keras` model file in Keras safe mode (no Python code from the file runs, so a Lambda
    layer is refused). Raises `ModelFileError` with one line naming the file for anything else."""
    import zoo.training.losses  # noqa: F401  registers the custom losses and metrics the files refer to
    import zoo.training.metrics  # noqa: F401

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found")
    if path.suffix != ".keras":
        raise ModelFileError(f"{path}: not a Keras model file (expected a .keras file written by model.save)")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(f"{path}: corrupt or not a Keras model file (not a complete .keras zip archive)")
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            bad = z.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise ModelFileError(f"{path}: corrupt model file ({e})") from None
    if bad is not None:
        raise ModelFileError(f"{path}: corrupt model file (damaged entry {bad})")
    if "config.json" not in names:
        raise ModelFileError(f"{path}: not a Keras model file (zip archive without config.json)")
    try:
        if compile:
            return keras.models.load_model(path, safe_mode=True, compile=True)
        return _load_for_inference(path)
    except Exception as e:  # noqa: BLE001 - any failure to load becomes one line naming the file
        text = " ".join(str(e).split()) or e.__class__.__name__
        if "safe_mode" in text or "lambda" in text.lower():
            raise ModelFileError(f"{path}: refused to load: the file contains Python code (a Lambda layer), "
                                 "which safe mode does not run") from None
        raise ModelFileError(f"{path}: cannot load model ({e.__class__.__name__}: {text[:300]})") from None
