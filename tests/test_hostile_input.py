"""Hostile input: images whose header claims billions of pixels, YAML bombs, model files that name a module for
Keras to import, colour masks with several label colours. Each is refused (or, for the colour masks, warned
about) in one line naming the file, without a traceback, fast and in bounded memory. The corpus is made here."""
import json
import struct
import subprocess
import sys
import time
import warnings
import zipfile
import zlib

import cv2
import numpy as np
import pytest
import tifffile
import tf_keras as keras
from PIL import Image

import train
from conftest import ROOT, SAMPLE_DATA
from conftest import random_image as _image, write_dataset as _good_set
from zoo import files
from zoo.tools import recipes
from zoo.training import data, validate
from zoo.training.run import RunConfig, usable_pairs

H, W = 40, 48
BOMB = 20000  # claimed width and height: 400 million pixels, 1.2 GB as 8-bit RGB, 4.8 GB as float32
BOMB_LINE = f"{BOMB}x{BOMB} = {BOMB * BOMB} pixels, more than the limit of {data.MAX_PIXELS} (--max-pixels)"


# --- the corpus ---------------------------------------------------------------------------------

def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def bomb_png(path):
    """A valid PNG header for BOMB x BOMB RGB with 4 rows of data: a few hundred bytes on disk."""
    rows = zlib.compress(b"\0" * (1 + 3 * BOMB) * 4)
    ihdr = struct.pack(">IIBBBBB", BOMB, BOMB, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", rows) + _png_chunk(b"IEND", b""))


def bomb_jpeg(path):
    """A small baseline JPEG whose frame header (SOF0) is patched to BOMB x BOMB."""
    blob = bytearray(cv2.imencode(".jpg", _image())[1].tobytes())
    sof = blob.index(b"\xff\xc0")
    blob[sof + 5:sof + 9] = struct.pack(">HH", BOMB, BOMB)
    path.write_bytes(bytes(blob))


def bomb_gif(path):
    """A palette GIF whose logical screen is patched to BOMB x BOMB."""
    Image.fromarray(_image()).convert("P").save(path)
    blob = bytearray(path.read_bytes())
    blob[6:10] = struct.pack("<HH", BOMB, BOMB)
    path.write_bytes(bytes(blob))


def bomb_tiff(path):
    """A small RGB TIFF whose ImageWidth and ImageLength tags are rewritten to BOMB."""
    tifffile.imwrite(path, _image(), photometric="rgb")
    with tifffile.TiffFile(path, mode="r+b") as tif:
        tif.pages[0].tags["ImageWidth"].overwrite(BOMB)
        tif.pages[0].tags["ImageLength"].overwrite(BOMB)


def bomb_bmp(path):
    cv2.imwrite(str(path), _image())
    blob = bytearray(path.read_bytes())
    blob[18:26] = struct.pack("<ii", BOMB, BOMB)
    path.write_bytes(bytes(blob))


BOMBS = {"png": bomb_png, "jpg": bomb_jpeg, "gif": bomb_gif, "tif": bomb_tiff, "bmp": bomb_bmp}


def _put_bomb(root, kind, role, stem="p0"):
    """Replace a pair's image or mask by a header bomb of format `kind`; returns its path."""
    (root / role / f"{stem}.png").unlink()
    path = root / role / f"{stem}.{kind}"
    BOMBS[kind](path)
    return path


def billion_laughs(path):
    lines = [f"name: {path.stem}", 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for prev, cur in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 9) + "]")
    lines.append("settings: {epochs: {value: *i, chosen: laughs}}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _no_traceback(text: str):
    assert "Traceback" not in text and "DecompressionBomb" not in text, text


# --- decompression bombs --------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["images", "masks"])
@pytest.mark.parametrize("kind", list(BOMBS))
def test_header_bomb_is_skipped_in_one_line_before_decoding(tmp_path, kind, role):
    root = _good_set(tmp_path / "set")
    path = _put_bomb(root, kind, role)
    start = time.perf_counter()
    report = validate.validate_dataset(root)
    assert time.perf_counter() - start < 5
    assert [str(p) for p in report.problems] == [f"{path}: {BOMB_LINE}"]
    assert len(report.pairs) == 5 and "5 of 6 image/mask pairs used, 1 skipped" in report.summary()
    with pytest.raises(data.DataError) as e:
        validate.validate_dataset(root, strict=True)
    assert str(e.value) == f"{path}: {BOMB_LINE}"
    reader = data.read_image if role == "images" else data.read_mask
    with pytest.raises(data.DataError) as e:
        reader(path)
    assert str(e.value) == f"{path}: {BOMB_LINE}"


def test_header_bomb_in_a_run_is_one_skipped_line_and_strict_stops_with_exit_2(tmp_path, capsys):
    root = _good_set(tmp_path / "set")
    path = _put_bomb(root, "png", "images")
    assert len(usable_pairs(RunConfig(data=str(root)))) == 5
    err = capsys.readouterr().err
    _no_traceback(err)
    assert f"skipped {path}: {BOMB_LINE}\n" in err
    runs = tmp_path / "runs"
    assert train.main(["--data", str(root), "--strict", "--output", str(runs), "--model", "quarter_multiresunet",
                       "--image-size", "32", "--histogram-freq", "0", "--no-augment"]) == 2
    err = capsys.readouterr().err
    _no_traceback(err)
    assert [line for line in err.splitlines() if line.strip()][-1] == f"error: {path}: {BOMB_LINE}"
    assert not runs.exists()


def test_large_real_image_is_refused_over_a_small_limit_and_read_under_it(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)  # no limit (0) lifts Pillow's: restore it
    root = _good_set(tmp_path / "set", n=3)
    big_h, big_w = 1000, 1200
    big = np.zeros((big_h, big_w), np.uint8)
    big[100:400, 200:700] = 255
    cv2.imwrite(str(root / "images" / "p0.png"), np.dstack([big] * 3))
    cv2.imwrite(str(root / "masks" / "p0.png"), big)
    path = root / "images" / "p0.png"
    line = f"{path}: {big_w}x{big_h} = {big_w * big_h} pixels, more than the limit of 1000000 (--max-pixels)"
    small = data.DataConfig((32, 32), max_pixels=1_000_000)
    report = validate.validate_dataset(root, small)
    assert [str(p) for p in report.problems] == [line] and len(report.pairs) == 2
    with pytest.raises(data.DataError) as e:
        data.load_pair((path, root / "masks" / "p0.png"), small)
    assert str(e.value) == line
    for cfg in (data.DataConfig((32, 32)), data.DataConfig((32, 32), max_pixels=0), data.DataConfig((32, 32), max_pixels=None)):
        assert validate.validate_dataset(root, cfg).problems == []
        image, mask = data.load_pair((path, root / "masks" / "p0.png"), cfg)
        assert image.shape == (32, 32, 3) and 0 < mask.mean() < 1
    # Pillow has a limit of its own: a limit above it must not make Pillow refuse (or warn about) a file, neither
    # in validation (Pillow checks JPEGs for truncation) nor in the reader (Pillow decodes what OpenCV cannot: TGA).
    Image.fromarray(np.dstack([big] * 3)).save(tmp_path / "big.tga")
    cv2.imwrite(str(root / "images" / "p1.jpg"), np.dstack([big] * 3))
    (root / "images" / "p1.png").unlink()
    cv2.imwrite(str(root / "masks" / "p1.jpg"), big)
    (root / "masks" / "p1.png").unlink()
    Image.MAX_IMAGE_PIXELS = 500_000  # Pillow refuses over 2 x 500000 and warns over 500000
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert data.read_image(tmp_path / "big.tga", max_pixels=2_000_000).shape == (big_h, big_w, 3)
        assert validate.validate_dataset(root, data.DataConfig(max_pixels=2_000_000)).problems == []
    with pytest.raises(data.DataError, match=r"big.tga: 1200x1000 = 1200000 pixels, more than the limit of 1000000"):
        data.read_image(tmp_path / "big.tga", max_pixels=1_000_000)
    with pytest.raises(ValueError, match="max_pixels must be"):
        data.DataConfig(max_pixels=-1)


# A child process without TensorFlow (the `zoo` packages are stubbed, so zoo/__init__ does not load the models)
# and with 1 GB of address space: every bomb must be refused in it, and its peak memory stays small.
CHILD = r"""
import json, resource, sys, time, types
root = sys.argv[1]
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
for name in ("zoo", "zoo.training", "zoo.tools"):
    module = types.ModuleType(name)
    module.__path__ = [root + "/" + name.replace(".", "/")]
    sys.modules[name] = module
from zoo.training import data, validate
from zoo.tools import recipes
out = {"tensorflow": "tensorflow" in sys.modules, "lines": [], "warnings": []}
start = time.perf_counter()
report = validate.validate_dataset(sys.argv[2])
out["lines"] += [str(p) for p in report.problems]
out["pairs"] = len(report.pairs)
for path in sys.argv[3].split(","):
    try:
        (data.read_mask if "/masks/" in path else data.read_image)(path)
        out["lines"].append(path + ": read")
    except data.DataError as e:
        out["lines"].append(str(e))
for path in sys.argv[4].split(","):
    try:
        recipes.read_recipe(path)
    except recipes.RecipeError as e:
        out["lines"].append(str(e))
out["seconds"] = time.perf_counter() - start
with open("/proc/self/status") as f:  # VmHWM: peak RSS since exec (ru_maxrss counts the forking parent's)
    out["peak_mb"] = next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024
try:  # the limit is in force: 1.5 GB cannot be had
    bytearray(1_500_000_000)
    out["limit_works"] = False
except MemoryError:
    out["limit_works"] = True
print(json.dumps(out))
"""


def test_bombs_are_refused_in_bounded_memory(tmp_path):
    root = _good_set(tmp_path / "set", n=7)
    bombs = [_put_bomb(root, kind, "images", f"p{i}") for i, kind in enumerate(("png", "jpg", "gif", "tif", "bmp"))]
    bombs.append(_put_bomb(root, "png", "masks", "p6"))  # pair p5 stays good
    laughs = billion_laughs(tmp_path / "laughs.yaml")
    huge = tmp_path / "huge.yaml"
    huge.write_text("name: huge\n" + "# padding\n" * 200_000)
    proc = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), str(root), ",".join(map(str, bombs)),
                           f"{laughs},{huge}"], capture_output=True, text=True, timeout=60)
    _no_traceback(proc.stderr)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["limit_works"] and not out["tensorflow"]
    bomb_lines = [f"{p}: {BOMB_LINE}" for p in bombs]
    assert out["lines"] == bomb_lines + bomb_lines + [
        f"{laughs}: not valid YAML (line 2): anchor &a: recipes may not use anchors or aliases (write the value out)",
        f"{huge}: file is larger than {recipes.MAX_RECIPE_BYTES} bytes (recipes are a few kB)"]
    assert out["pairs"] == 1
    assert out["peak_mb"] < 300 and out["seconds"] < 10, out


# --- YAML bombs -------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind,message", [
    ("laughs", "not valid YAML (line 2): anchor &a: recipes may not use anchors or aliases"),
    ("alias_only", "not valid YAML (line 2): alias *x: recipes may not use anchors or aliases"),
    ("huge", f"file is larger than {recipes.MAX_RECIPE_BYTES} bytes"),
    ("deep", f"not valid YAML (line 2): nested more than {recipes.MAX_RECIPE_DEPTH} levels deep"),
    ("latin1", "not UTF-8 text (line 2)"),
    ("list_key", "not valid YAML (line 1): found unhashable key"),
    ("python_tag", "not valid YAML (line 1): could not determine a constructor for the tag"),
])
def test_hostile_recipe_is_one_line_naming_the_file_and_fast(tmp_path, kind, message):
    path = tmp_path / f"{kind}.yaml"
    if kind == "laughs":
        billion_laughs(path)
    elif kind == "alias_only":
        path.write_text("name: alias_only\ntitle: *x\n")
    elif kind == "huge":
        path.write_text("name: huge\n" + "# padding\n" * 200_000)
    elif kind == "deep":
        path.write_text("name: deep\nsettings: " + "[" * 100_000 + "]" * 100_000 + "\n")
    elif kind == "latin1":
        path.write_bytes("name: latin1\ntitle: caf\u00e9\n".encode("latin-1"))
    elif kind == "list_key":
        path.write_text("? [a, b]\n: 1\n")
    elif kind == "python_tag":
        path.write_text("name: !!python/object/apply:os.system ['echo hostile']\n")
    start = time.perf_counter()
    with pytest.raises(recipes.RecipeError) as e:
        recipes.read_recipe(str(path))
    assert time.perf_counter() - start < 2
    text = str(e.value)
    assert text.startswith(f"{path}: ") and message in text and "\n" not in text, text


def test_shipped_recipes_still_read():
    names = recipes.list_recipes()
    assert names and all(recipes.read_recipe(name).name == name for name in names)


# --- model files that name a module ------------------------------------------------------------------

@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    """A small model with our custom layers (MaxUnpooling2D, HardSwish), compiled with our loss and metrics."""
    import zoo  # noqa: F401
    from zoo.models.quantization import HardSwish
    from zoo.models.segnet import MaxUnpooling2D
    from zoo.training.losses import get_loss
    from zoo.training.metrics import default_metrics

    inp = keras.Input((8, 8, 2))
    pooled = keras.layers.MaxPooling2D()(inp)
    x = MaxUnpooling2D()([inp, pooled, keras.layers.Conv2D(2, 1)(pooled)])
    out = keras.layers.Conv2D(1, 1, activation="sigmoid")(HardSwish()(x))
    model = keras.Model(inp, out)
    model.compile(optimizer="adam", loss=get_loss("dice"), metrics=default_metrics())
    path = tmp_path_factory.mktemp("model") / "good.keras"
    model.save(path)
    keras.backend.clear_session()
    return path


def _edited(src, dst, edit):
    """A copy of the .keras archive `src` with `edit(config)` applied to its config.json."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            blob = zin.read(item)
            if item.filename == "config.json":
                config = json.loads(blob)
                edit(config)
                blob = json.dumps(config).encode()
            zout.writestr(item, blob)
    return dst


def _layer(config, class_name):
    return next(layer for layer in config["config"]["layers"] if layer["class_name"] == class_name)


def _names_module(module, where="model", class_name=None, registered_name=None):
    """An edit that makes one object of the config (the model itself, a layer or the loss) name `module`. Keras
    imports the module of the model or of a compile object (loss, metric, optimizer) to look for the class."""
    def edit(config):
        target = {"model": lambda: config, "layer": lambda: _layer(config, "Conv2D"),
                  "loss": lambda: config["compile_config"]["loss"]}[where]()
        target.update(module=module, registered_name=registered_name, class_name=class_name or target["class_name"])
    return edit


def test_zoo_model_with_custom_layers_loads(saved_model):
    assert files.load_model(saved_model).count_params() > 0
    assert files.load_model(saved_model, compile=False).count_params() > 0


def test_keras_builtin_functions_load(tmp_path):
    inp = keras.Input((4,))
    model = keras.Model(inp, keras.layers.Dense(1, activation="sigmoid")(inp))
    model.compile(optimizer="sgd", loss=keras.losses.binary_crossentropy, metrics=["accuracy"])
    model.save(tmp_path / "builtin.keras")  # the loss is saved as {"module": "builtins", "class_name": "function"}
    assert files.load_model(tmp_path / "builtin.keras").loss is not None


@pytest.mark.parametrize("compile", [True, False])
@pytest.mark.parametrize("kind,edit,message", [
    ("this", _names_module("this"), "the file names module this"),
    ("os", _names_module("os", "loss", "system"), "the file names module os"),
    ("keras_lookalike", _names_module("keras_extras", "layer"), "the file names module keras_extras"),
    ("unregistered_zoo_object", _names_module("zoo.files", "loss", "function"),
     "the file names 'function' from module zoo.files, which is not registered as serializable"),
    ("unknown_registered_name", _names_module("keras.layers", "layer", "Conv2D", "hostile>Conv2D"),
     "the file names 'hostile>Conv2D', which is not a registered Keras object (module keras.layers)"),
    ("python_builtin_function", lambda c: _layer(c, "Conv2D")["config"].update(
        activation={"module": "builtins", "class_name": "function", "config": "exit", "registered_name": "function"}),
     "the file names module builtins"),
])
def test_model_naming_a_foreign_module_is_refused_before_keras_imports_it(saved_model, tmp_path, capsys, kind, edit,
                                                                          message, compile):
    path = _edited(saved_model, tmp_path / f"{kind}.keras", edit)
    imported_before = "this" in sys.modules
    with pytest.raises(files.ModelFileError) as e:
        files.load_model(path, compile=compile)
    assert str(e.value) == f"{path}: refused to load: {message}"
    out = capsys.readouterr()
    assert "Beautiful is better than ugly" not in out.out + out.err
    assert ("this" in sys.modules) == imported_before


def test_module_named_by_a_model_file_is_not_imported(saved_model, tmp_path, monkeypatch):
    marker = tmp_path / "imported"
    (tmp_path / "hostile_module_xyz.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    path = _edited(saved_model, tmp_path / "hostile.keras", _names_module("hostile_module_xyz"))
    with pytest.raises(files.ModelFileError, match="refused to load: the file names module hostile_module_xyz"):
        files.load_model(path)
    assert not marker.exists()
    with pytest.raises(Exception):  # control: Keras' safe mode alone imports the module, then fails
        keras.models.load_model(path, safe_mode=True)
    assert marker.exists()
    monkeypatch.delitem(sys.modules, "hostile_module_xyz", raising=False)


def test_lambda_layer_naming_a_function_is_refused(tmp_path):
    inp = keras.Input((4,))
    keras.Model(inp, keras.layers.Lambda(lambda x: x * 2)(inp)).save(tmp_path / "lambda.keras")

    def named_function(config):  # safe mode refuses a lambda's code, not a function given by module and name
        _layer(config, "Lambda")["config"].update(function="getcwd", module="os", function_type="function")
    path = _edited(tmp_path / "lambda.keras", tmp_path / "named.keras", named_function)
    with pytest.raises(files.ModelFileError) as e:
        files.load_model(path)
    assert str(e.value) == f"{path}: refused to load: the file contains Python code (a Lambda layer), which safe mode " \
                           "does not run"


@pytest.mark.parametrize("kind,message", [
    ("zip_bomb", "refused to load: model.weights.h5 inflates"),
    ("deep_json", "refused to load: config.json is nested too deeply"),
    ("not_json", "refused to load: config.json is not valid JSON"),
])
def test_model_archive_bombs_are_refused(saved_model, tmp_path, kind, message):
    path = tmp_path / f"{kind}.keras"
    with zipfile.ZipFile(saved_model) as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            if kind == "zip_bomb" and item.filename == "model.weights.h5":
                with zout.open("model.weights.h5", "w") as f:  # 80 MB of zeros in about 80 kB
                    for _ in range(80):
                        f.write(bytes(1 << 20))
            elif item.filename == "config.json" and kind != "zip_bomb":
                zout.writestr("config.json", "[" * 100_000 + "]" * 100_000 if kind == "deep_json" else "{not json")
            else:
                zout.writestr(item.filename, zin.read(item))
    start = time.perf_counter()
    with pytest.raises(files.ModelFileError) as e:
        files.load_model(path)
    assert time.perf_counter() - start < 5
    text = str(e.value)
    assert text.startswith(f"{path}: ") and message in text and "\n" not in text, text


# --- colour masks with several label colours ------------------------------------------------------

def _colour_mask(colours, h=160, w=192):
    """An RGB mask (as RGB, not OpenCV's BGR) with one block per colour, large enough for JPEG's colour
    subsampling to blur only the edges."""
    m = np.zeros((h, w, 3), np.uint8)
    for i, colour in enumerate(colours):
        m[10 + 50 * i:50 + 50 * i, 20:170] = colour
    return m


@pytest.mark.parametrize("colours,suffix,warned", [
    ([(255, 0, 0), (0, 255, 0)], ".png", ["(255, 0, 0)", "(0, 255, 0)"]),
    ([(255, 0, 0), (0, 0, 255), (255, 255, 0)], ".png", ["(255, 0, 0)", "(0, 0, 255)", "(255, 255, 0)"]),
    ([(255, 0, 0)], ".png", None),
    ([(255, 255, 255)], ".png", None),
    ([(255, 0, 0), (255, 0, 0)], ".jpg", None),  # one colour, with JPEG colour fringes
    ([(255, 255, 255), (255, 255, 255)], ".jpg", None),
])
def test_colour_mask_with_several_label_colours_is_used_with_a_warning(tmp_path, colours, suffix, warned):
    root = _good_set(tmp_path / "set", n=3)
    (root / "masks" / "p0.png").unlink()
    cv2.imwrite(str(root / "images" / "p0.png"), _image(0, 160, 192))
    path = root / "masks" / f"p0{suffix}"
    cv2.imwrite(str(path), cv2.cvtColor(_colour_mask(colours), cv2.COLOR_RGB2BGR))
    report = validate.validate_dataset(root)
    assert report.problems == [] and len(report.pairs) == 3
    if warned is None:
        assert report.warnings == [] and "warning" not in report.summary()
        return
    [warning] = report.warnings
    line = str(warning)
    assert line.startswith(f"{path}: colour mask with {len(colours)} label colours: RGB ") and "\n" not in line, line
    assert all(c in line for c in warned) and "one foreground class" in line, line
    assert "3 of 3 image/mask pairs used, 1 used with a warning" in report.summary()
    with pytest.raises(data.DataError) as e:  # --strict: warnings do not stop a run, problems do
        (root / "masks" / "p1.png").write_bytes(b"")
        validate.validate_dataset(root, strict=True)
    assert "p1.png: empty file" in str(e.value)


def test_bundled_sample_has_no_warnings():
    report = validate.validate_dataset(SAMPLE_DATA)
    assert report.problems == [] and report.warnings == []
