"""Run files written safely and model files read safely: atomic writes (a file is the old or the complete
new one, never half-written), cleanup after a killed process, and `.keras` loading in safe mode.

Keras' safe mode refuses Lambda code, but it still imports any module a config names (`"module": "os"`) to
find a class there. So `load_model` first reads config.json out of the archive and walks it: every object
must come from Keras (`keras.*`, `tf_keras.*`, Keras' built-in functions) or be one of ours registered with
`register_keras_serializable` (`zoo>...`, `edgeseg>...`), and no Lambda layer may appear (safe mode refuses a
lambda's code, but resolves a function named by module and name); anything else is refused before Keras sees the file."""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
import zipfile
from pathlib import Path


class ModelFileError(ValueError):
    """A model file that is missing, corrupt, not a Keras model, or unsafe to load; one line naming it."""


KERAS_MODULES = ("keras", "tf_keras")  # with their submodules: Keras' own classes
OWN_MODULES = ("zoo",)  # our layers, losses and metrics: loaded only through Keras' registry of serializable objects
MAX_CONFIG_BYTES = 64 << 20  # config.json of the largest zoo model is well under 1 MB
MAX_INFLATION = 100  # an archive member that inflates more than this (and past 64 MB) is refused as a zip bomb
LAMBDA_REFUSAL = "the file contains Python code (a Lambda layer), which safe mode does not run"


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
    import tf_keras as keras

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


def _config_refusal(path: Path) -> str | None:
    """Why the model in `path` must not be handed to Keras (an object from a module other than Keras' or
    ours, or an unregistered name), or None. Reads config.json only; imports and runs nothing."""
    try:
        with zipfile.ZipFile(path) as z:
            info = z.getinfo("config.json")
            if info.file_size > MAX_CONFIG_BYTES:
                return f"config.json is {info.file_size} bytes, more than {MAX_CONFIG_BYTES}"
            with z.open(info) as f:
                config = json.loads(f.read(MAX_CONFIG_BYTES + 1))
    except RecursionError:
        return "config.json is nested too deeply"
    except (ValueError, zipfile.BadZipFile, OSError, EOFError) as e:  # json.JSONDecodeError, UnicodeDecodeError
        return f"config.json is not valid JSON ({' '.join(str(e).split())[:200]})"
    stack = [config]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            stack.extend(node.values())
            if node.get("class_name") == "Lambda":  # safe mode lets a function named by module and name through
                return LAMBDA_REFUSAL
            if "class_name" in node and ("module" in node or "registered_name" in node):
                refusal = _object_refusal(node)
                if refusal:
                    return refusal
    return None


def _object_refusal(node: dict) -> str | None:
    """Why one serialized object ({"module", "class_name", "config", "registered_name"}) is refused, or None."""
    import tf_keras as keras

    module, name, registered = node.get("module"), node.get("class_name"), node.get("registered_name")
    if not (module is None or isinstance(module, str)) or not (registered is None or isinstance(registered, str)):
        return f"the file names module {module!r} with registered name {registered!r}"
    is_function = name == "function" and isinstance(node.get("config"), str)
    key = node["config"] if is_function else registered  # what Keras looks up in its registry first
    known = bool(key) and keras.saving.get_registered_object(key) is not None
    if registered not in (None, "function", name) and not known:
        return f"the file names {registered!r}, which is not a registered Keras object (module {module})"
    if module is None or known or _under(module, KERAS_MODULES):
        return None
    if module == "builtins" and is_function and _keras_builtin_function(node["config"]):
        return None  # Keras' own functions (e.g. the loss "binary_crossentropy"), looked up in keras.losses & co.
    if _under(module, OWN_MODULES):
        return f"the file names {name!r} from module {module}, which is not registered as serializable"
    return f"the file names module {module}"


def _under(module: str, packages) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def _keras_builtin_function(name: str) -> bool:
    """`name` is a function in one of the Keras modules Keras searches for a "builtins" function, and not a
    Python builtin (which Keras would fall back to: `exit`, `eval`, ...)."""
    import builtins

    import tf_keras as keras

    if not name.isidentifier() or name.startswith("_") or hasattr(builtins, name):
        return False
    return any(callable(getattr(getattr(keras, mod), name, None))
               for mod in ("activations", "constraints", "initializers", "losses", "metrics", "optimizers", "regularizers"))


def load_model(path, *, compile: bool = True):
    """Load a `.keras` model file in Keras safe mode (no Python code from the file runs, so a Lambda
    layer is refused) after checking that its config names only Keras' objects and our registered ones
    (see the module docstring). Raises `ModelFileError` with one line naming the file for anything else."""
    import tf_keras as keras

    import zoo.models  # noqa: F401  registers the custom layers (`import zoo` alone no longer loads the models)
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
            for info in z.infolist():  # sizes from the archive's directory: nothing inflated yet
                if info.file_size > max(64 << 20, MAX_INFLATION * info.compress_size):
                    raise ModelFileError(f"{path}: refused to load: {info.filename} inflates {info.compress_size} bytes "
                                         f"to {info.file_size} (a zip bomb?)")
            bad = z.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as e:
        raise ModelFileError(f"{path}: corrupt model file ({e})") from None
    if bad is not None:
        raise ModelFileError(f"{path}: corrupt model file (damaged entry {bad})")
    if "config.json" not in names:
        raise ModelFileError(f"{path}: not a Keras model file (zip archive without config.json)")
    refusal = _config_refusal(path)
    if refusal:
        raise ModelFileError(f"{path}: refused to load: {refusal}")
    try:
        if compile:
            return keras.models.load_model(path, safe_mode=True, compile=True)
        return _load_for_inference(path)
    except Exception as e:  # noqa: BLE001 - any failure to load becomes one line naming the file
        text = " ".join(str(e).split()) or e.__class__.__name__
        if "safe_mode" in text or "lambda" in text.lower():
            raise ModelFileError(f"{path}: refused to load: {LAMBDA_REFUSAL}") from None
        raise ModelFileError(f"{path}: cannot load model ({e.__class__.__name__}: {text[:300]})") from None
