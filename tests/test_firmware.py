"""The firmware deploy writes (deploy/firmware/, model_ops.h, tiling_config.h, the C array) compiles on this machine
against the vendored TensorFlow Lite Micro tree (third_party/tflite-micro) and gives the Python TFLite-Micro
interpreter's output bit for bit: the whole-image export and the tiled one (the plan deploy's tiling chose), on
a real image. Skipped only without a C++ compiler or CMake."""
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import tf_keras as keras

import zoo
from conftest import SAMPLE_DATA
from deploy import convert, export, tflm
from deploy.tiling.arena import TFLMRunner
from deploy.tiling.plan import plan_tiles, run_tiled
from zoo.training import data

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "deploy" / "firmware" / "build_host.sh"
TOOLS = [t for t in ("cmake", "c++") if shutil.which(t) is None]
pytestmark = pytest.mark.skipif(bool(TOOLS), reason=f"{', '.join(TOOLS)} not found: the firmware cannot be built")


def c_array_bytes(source: Path) -> bytes:
    """The bytes of the `g_model` array in a model_data.cc."""
    text = source.read_text()
    return bytes(int(v, 16) for v in re.findall(r"0x([0-9a-f]{2})", text[text.index("{"):text.index("}")]))


def config_value(config: Path, name: str) -> list[int]:
    """An integer constant or array of a tiling_config.h."""
    value = re.search(rf"\b{name}(?:\[\w+\])? = \{{?([-\d, ]+)\}}?;", config.read_text()).group(1)
    return [int(v) for v in value.split(",")]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Quarter MultiResUNet (the registry's smallest MCU model) at 64x64 deployed with --targets tflm and a 256 KB
    tile arena: the export folder (whole-image firmware) with firmware/ (tiled) and one quantized sample image."""
    from deploy.options import DeployOptions
    from deploy.pipeline import run
    from zoo.training.losses import get_loss

    keras.utils.set_random_seed(0)
    model = zoo.build_model("quarter_multiresunet", input_shape=(64, 64, 3))
    pairs = data.find_pairs(SAMPLE_DATA)
    out = tmp_path_factory.mktemp("export")
    cfg = data.DataConfig((64, 64), 3)
    report = run(model, out, train_pairs=pairs[:4], eval_pairs=pairs[4:6], data_cfg=cfg, loss=get_loss("bce"),
                 options=DeployOptions(quantize=("int8",), targets=("tflite", "tflm"), mcu_ram=256 * 1024,
                                       calibration_images=4), log=lambda *_: None)
    x = data.normalize(data.load_arrays(pairs[4:5], cfg)[0], cfg)
    xq = convert.LiteRTModel((out / report["variants"]["tflite_int8"]["file"]).read_bytes()).quantize_input(x)[0]
    image = out / "image.raw"
    xq.tofile(image)
    return out, report, xq, image


def build_and_run(folder: Path, build_dir: Path, image: Path) -> tuple[np.ndarray, float, str]:
    """Build the host program for a deploy folder, run it on `image`; (raw int8 output, build seconds, program)."""
    start = time.perf_counter()
    done = subprocess.run(["bash", str(BUILD), str(folder)], env={**os.environ, "BUILD_DIR": str(build_dir)},
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    assert done.returncode == 0, done.stderr
    program = done.stdout.strip().splitlines()[-1]
    output = folder / "output.raw"
    ran = subprocess.run([program, str(image), str(output), str(folder / "mask.pgm")], capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    assert "arena used" in ran.stdout
    return np.fromfile(output, np.int8), seconds, program


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory):
    """One CMake build folder for the module: TFLM objects are compiled once and reused."""
    return tmp_path_factory.mktemp("firmware_build")


def test_host_firmware_equals_python_tflm_bit_for_bit(exported, build_dir):
    out, report, xq, image = exported
    assert set(report["c_array"]["firmware"]) == {"model_data.h", "model_data.cc", "model_ops.h", "tiling_config.h",
                                                  "tiled_inference.cc", "tiled_inference.h"}
    ops = (out / "model_ops.h").read_text()
    assert "MicroMutableOpResolver<kNumOps>" in ops and "constexpr int kNumOps = 6;" in ops
    assert ops.count("resolver.Add") == 6 and "resolver.AddConv2D()" in ops and "resolver.AddLogistic()" in ops

    # Whole image: one tile, the arena deploy measured.
    whole = c_array_bytes(out / "model_data.cc")
    arena = report["variants"]["tflite_int8"]["tflm"]["arena_bytes"]
    assert config_value(out / "tiling_config.h", "kArenaBytes") == [arena]
    expected = tflm.run(whole, xq[None], arena)[0]
    assert len(np.unique(expected)) > 20  # a varied output, not a saturated constant that would match by chance
    got, first_build, program = build_and_run(out, build_dir, image)
    assert np.array_equal(got.reshape(expected.shape), expected)
    print(f"first build (TFLM + program): {first_build:.1f} s")
    short = out / "short.raw"
    short.write_bytes(b"\0" * 10)
    ran = subprocess.run([program, str(short), str(out / "o.raw")], capture_output=True, text=True)
    assert ran.returncode == 1
    assert ran.stderr.strip() == f"{short}: expected exactly {64 * 64 * 3} int8 values (64x64x3 HWC), got 10"

    # Tiled: the plan deploy's tiling chose, the tile model's own C array, one interpreter for every tile.
    t, fw = report["tiling"], out / "firmware"
    assert t["mode"] == "exact" and t["tiles"] == 16 and t["tile_input"] == 44
    tile_model = c_array_bytes(fw / "model_data.cc")
    plan = plan_tiles(tuple(t["image"]), t["tile_input"], t["halo"], t["alignment"])
    assert config_value(fw / "tiling_config.h", "kTileStartY") == list(plan.rows.starts)
    assert config_value(fw / "tiling_config.h", "kCoreEndX") == list(plan.cols.core_ends)
    python_tiled = run_tiled(TFLMRunner(tile_model, t["tile_arena"]).invoke_raw, xq, plan)
    got_tiled, second_build, _ = build_and_run(fw, build_dir, image)
    assert np.array_equal(got_tiled.reshape(python_tiled.shape), python_tiled)
    assert np.array_equal(got_tiled, got)  # the exact halo: tiles stitch to the whole image's output
    print(f"rebuild for the tile model (objects reused): {second_build:.1f} s")
    mask = (fw / "mask.pgm").read_bytes()
    threshold = config_value(fw / "tiling_config.h", "kOutputThreshold")[0]
    assert mask.startswith(b"P5\n64 64\n255\n") and np.array_equal(
        np.frombuffer(mask[-64 * 64:], np.uint8), np.where(got_tiled > threshold, 255, 0))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["deeplabv3plus_mobilenetv3", "fpn_efficientnet_b0", "segnet", "unet_resnet18"])
def test_other_families_operators_are_bit_exact(name, build_dir, tmp_path):
    """Tiny variants with the rest of the zoo's INT8 operators (depthwise conv, mean, strided slice, mul, pad,
    equal, select), whole image, in a fixed 1 MiB arena on both sides. Logit outputs: random weights often
    saturate the sigmoid into a constant, which would match by chance."""
    from deploy.tiling.firmware import write_firmware

    model = zoo.get_model_entry(name).build_small(input_shape=(32, 32, 3), activation=None)
    x = np.random.default_rng(0).random((1, 32, 32, 3), dtype=np.float32)
    blob = convert.to_tflite(model, "int8", [x])
    runner = convert.LiteRTModel(blob)
    write_firmware(tmp_path, blob, None, 2**20, runner)
    xq = runner.quantize_input(x)
    xq[0].tofile(tmp_path / "image.raw")
    expected = tflm.run(convert.strip(blob, micro=True), xq, 2**20)[0]
    got, *_ = build_and_run(tmp_path, build_dir, tmp_path / "image.raw")
    assert len(np.unique(expected)) > 20 and np.array_equal(got.reshape(expected.shape), expected)


def test_build_refuses_a_folder_without_the_firmware_files(tmp_path):
    done = subprocess.run(["bash", str(BUILD), str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.strip() == f"{tmp_path}/model_data.cc: missing (export with " \
        "--targets tflm, or use its firmware/ folder)"


def test_resolver_lists_each_operator_once():
    blob = convert.to_tflite(zoo.build_model("quarter_multiresunet", input_shape=(32, 32, 3)), "int8",
                             [np.random.default_rng(0).random((1, 32, 32, 3), dtype=np.float32)])
    ops = export.builtin_ops(blob)
    assert ops == sorted(set(ops), key=ops.index) and "CONV_2D" in ops
    methods = export.tflm_add_methods()
    assert methods["CONV_2D"] == "AddConv2D" and methods["PADV2"] == "AddPadV2" and len(methods) > 90
