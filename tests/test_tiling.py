"""deploy/tiling/: the receptive field read from the graph equals the one measured by impulses; tiles
exported by resizing the INT8 flatbuffer, placed on the alignment grid and shifted inwards at the image
border reproduce the whole-image INT8 output bit for bit (LiteRT and TFLite-Micro), on real images too;
zero-padded border tiles and short halos measurably do not; batched tiles equal batch-1 tiles and a sampled
agreement's intervals contain the full measurement; stripped models run identically and are smaller; the report
gives the compute factor; the firmware files compile."""
import json
import shutil
import subprocess

import numpy as np
import pytest
import tf_keras as keras

import zoo
from conftest import SAMPLE_DATA, shared_dataset
from deploy import convert, tflm, tiling
from deploy.tiling.arena import TFLMRunner
from deploy.tiling.deployment import _ref_resolver
from deploy.tiling.firmware import write_firmware
from deploy.tiling.plan import plan_tiles, run_tiled
from deploy.tiling.receptive_field import impulse_receptive_field, receptive_field, resize_tflite, resized_keras_model
from zoo.training import data

MCU_SIZED = ("quarter_multiresunet", "half_multiresunet")


def _int8(model, x):
    return convert.to_tflite(model, "int8", [x[i:i + 1] for i in range(len(x))])


@pytest.mark.parametrize("name", ["quarter_multiresunet", "half_multiresunet", "half_unet"])
def test_receptive_field_from_graph_equals_impulse_measurement(name):
    model = zoo.build_model(name, input_shape=(64, 64, 3), width=0.1)  # width does not change the field
    graph = receptive_field(model)
    assert graph == impulse_receptive_field(model, start_size=96 if name == "half_multiresunet" else 64)
    # By hand for Quarter: stem 1 + MRB0 3 + pool 1 + MRB4 3 convs at stride 2 (6) + upsample 1 + MRB8 3 = 15,
    # and the right side is one pixel shorter before the upsampling's look-back: 14 each side after all.
    expected = {"quarter_multiresunet": (-14, 14, 2), "half_multiresunet": (-34, 34, 4), "half_unet": (-23, 23, 4)}
    assert (graph.lo, graph.hi, graph.alignment) == expected[name]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["unet", "multiresunet"])
def test_receptive_field_of_the_deep_models(name):
    model = zoo.build_model(name, input_shape=(64, 64, 3), width=0.05)
    assert receptive_field(model) == impulse_receptive_field(model)


def test_non_local_layers_are_refused_by_name():
    inp = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="c")(inp)
    g = keras.layers.GlobalAveragePooling2D(keepdims=True, name="squeeze")(x)
    out = keras.layers.Multiply(name="excite")([x, g])
    with pytest.raises(ValueError, match="'squeeze'.*cannot be tiled"):
        receptive_field(keras.Model(inp, out))
    valid = keras.Model(inp, keras.layers.Conv2D(1, 3, padding="valid", name="v")(inp))
    with pytest.raises(ValueError, match="'v'.*'same' padding"):
        receptive_field(valid)


def test_plan_tiles_covers_the_image_once_on_the_alignment_grid():
    plan = plan_tiles((96, 80), tile=36, halo=8, alignment=4)
    cover = np.zeros((96, 80), int)
    for ys, y0, y1 in zip(plan.rows.starts, plan.rows.core_starts, plan.rows.core_ends):
        assert ys % 4 == 0 and 0 <= ys and ys + 36 <= 96  # never reaches past the border
        assert y0 == 0 or y0 - ys >= 8  # halo above, unless the core starts at the image border
        assert y1 == 96 or ys + 36 - y1 >= 8
        for xs, x0, x1 in zip(plan.cols.starts, plan.cols.core_starts, plan.cols.core_ends):
            cover[y0:y1, x0:x1] += 1
    assert (cover == 1).all() and plan.tiles == 5 * 4 and plan.core == 20
    assert plan.overhead == pytest.approx(20 * 36 * 36 / (96 * 80) - 1)
    for kwargs, msg in ((dict(tile=34, halo=8), "tile 34 is not a multiple"), (dict(tile=36, halo=20), "no core"),
                        (dict(tile=100, halo=8), "larger than the image")):
        with pytest.raises(ValueError, match=msg):
            plan_tiles((96, 80), alignment=4, **kwargs)


@pytest.fixture(scope="module")
def quarter64():
    """Quarter MultiResUNet (random weights) at 64x64, its INT8 model and two random images."""
    keras.utils.set_random_seed(0)  # module-scoped: built before the per-test seed in conftest
    model = zoo.build_model("quarter_multiresunet", input_shape=(64, 64, 3))
    head = model.get_layer("head_conv")  # random logits are large: shrink them so the sigmoid is not saturated
    head.set_weights([w * 0.05 for w in head.get_weights()])
    x = np.random.default_rng(0).random((2, 64, 64, 3), dtype=np.float32)
    return model, x, _int8(model, x)


def test_exact_tiles_are_bit_identical_in_litert_and_tflm_and_padded_borders_are_not(quarter64):
    model, x, blob = quarter64
    rf = receptive_field(model)
    tile_blob = resize_tflite(blob, (44, 44))
    whole, tile = convert.LiteRTModel(blob), convert.LiteRTModel(tile_blob)
    assert list(tile.input["shape"]) == [1, 44, 44, 3]
    assert tile.input["quantization"] == whole.input["quantization"]
    assert tile.output["quantization"] == whole.output["quantization"]
    xq = whole.quantize_input(x[:1])
    ref = whole.invoke_raw(xq)[0]  # XNNPACK kernels; TFLM is bit-exact with the reference kernels instead
    ref_kernels = convert.LiteRTModel(blob, op_resolver=_ref_resolver()).invoke_raw(xq)[0]
    exact = plan_tiles((64, 64), 44, rf.exact_halo, rf.alignment)
    assert exact.tiles == 16
    assert np.array_equal(run_tiled(tile.invoke_raw, xq[0], exact), ref)
    micro = TFLMRunner(tile_blob, tflm.smallest_arena(tile_blob))
    assert np.array_equal(run_tiled(micro.invoke_raw, xq[0], exact), ref_kernels)
    # The naive placement: border tiles reach into zero input, so inner layers see conv(0) + bias there.
    padded = plan_tiles((64, 64), 44, rf.exact_halo, rf.alignment, border="pad")
    zero_point = int(whole.input["quantization"][1])
    stitched = run_tiled(tile.invoke_raw, xq[0], padded, pad_value=zero_point)
    assert 0 < np.mean(stitched != ref)
    assert np.array_equal(stitched[14:-14, 14:-14], ref[14:-14, 14:-14])  # only within the field of the border
    # A halo shorter than the receptive field is an approximation.
    short = plan_tiles((64, 64), 44, 4, rf.alignment)
    assert np.mean(run_tiled(tile.invoke_raw, xq[0], short) != ref) > 0
    with pytest.raises(ValueError, match="multiple of the model's alignment"):
        resize_tflite(blob, (43, 43))


def test_batched_tiles_and_sampled_agreement():
    """One interpreter with a batch of tiles gives the batch-1 outputs; a sampled measurement's 99 % intervals
    contain the value measured on every tile; Wilson's interval and the decision rule."""
    from deploy.tiling.measure import BatchRunner, decide, measure_tiling, wilson_interval

    keras.utils.set_random_seed(1)
    model = zoo.build_model("quarter_multiresunet", input_shape=(64, 64, 3))
    x = np.random.default_rng(1).random((2, 64, 64, 3), dtype=np.float32)
    head = model.get_layer("head_conv")  # sparse foreground (~3 % of pixels), as in segmentation
    kernel, bias = (w * 0.05 for w in head.get_weights())
    head.set_weights([kernel, bias])
    p = model.predict(x, verbose=0)
    head.set_weights([kernel, bias - np.quantile(np.log(p / (1 - p)), 0.97)])
    blob = _int8(model, x)
    whole = convert.LiteRTModel(blob)
    xq = whole.quantize_input(x)
    plan = plan_tiles((64, 64), 12, 4, 2)  # 4 px cores: 256 tiles per image
    tile_blob = resize_tflite(blob, (12, 12))
    runner = BatchRunner(tile_blob, batch=7)  # 256 = 36 x 7 + 4: the last batch is padded
    single = convert.LiteRTModel(tile_blob)
    assert np.array_equal(run_tiled(runner, xq[0], plan, batch=7), run_tiled(single.invoke_raw, xq[0], plan))
    whole_raw = [whole.invoke_raw(q[None])[0] for q in xq]
    truth = (x[..., :1] > 0.97).astype(np.float32)
    kw = dict(output_quantization=whole.output["quantization"], batch=runner.batch, progress=False)
    full = measure_tiling(whole_raw, runner, xq, plan, truth, min_equivalents=1e9, **kw)
    assert full["tiles_measured"] == full["tiles_total"] == 512 and full["confidence"] is None
    assert full["mask_agreement_interval"] == [round(full["mask_agreement"], 6)] * 2
    stitched = [run_tiled(single.invoke_raw, q, plan) for q in xq]
    masks = [(whole.dequantize_output(t) > 0.5, whole.dequantize_output(w) > 0.5) for t, w in zip(stitched, whole_raw)]
    assert full["mask_agreement"] == pytest.approx(np.mean([np.mean(a == b) for a, b in masks]))
    assert full["identical_outputs"] == pytest.approx(np.mean([np.mean(t == w) for t, w in zip(stitched, whole_raw)]))
    sampled = measure_tiling(whole_raw, runner, xq, plan, truth, min_equivalents=0.5, decide_targets=False, **kw)
    assert sampled["foreground_tiles"] <= sampled["tiles_measured"] < 512 and sampled["confidence"] == 0.99
    lo, hi = sampled["mask_agreement_interval"]
    assert lo <= full["mask_agreement"] <= hi and lo < hi
    lo, hi = sampled["dice_change_interval"]
    assert lo <= full["dice_change_points"] <= hi
    assert wilson_interval(50, 100, 0.95) == pytest.approx((0.4038, 0.5962), abs=1e-4)
    assert wilson_interval(0, 100, 0.95)[1] == pytest.approx(0.0370, abs=1e-4)
    assert decide({"mask_agreement_interval": [0.9992, 0.9995], "dice_change_interval": [-0.05, 0.02]}) is True
    assert decide({"mask_agreement_interval": [0.9980, 0.9989]}) is False
    assert decide({"mask_agreement_interval": [0.9992, 0.9995], "dice_change_interval": [-0.3, 0.02]}) is None


def test_stripped_model_runs_identically_and_is_smaller():
    """convert.strip: no names or metadata, shared vectors; the same outputs in LiteRT (XNNPACK and reference
    kernels) and TFLite-Micro; the TFLite-Micro variant (micro=True, the C array) is <= 0.27 of the float file
    for Half MultiResUNet (0.22 M parameters, the narrowest zoo model over 100 k)."""
    from ai_edge_litert.interpreter import OpResolverType

    keras.utils.set_random_seed(0)
    model = zoo.build_model("half_multiresunet", input_shape=(32, 32, 3))
    x = np.random.default_rng(0).random((2, 32, 32, 3), dtype=np.float32)
    blob, fp32 = _int8(model, x), convert.to_tflite(model, "fp32")
    plain, micro = convert.strip(blob), convert.strip(blob, micro=True)
    assert len(micro) < len(plain) < len(blob) and len(micro) <= 0.27 * len(fp32) < len(blob)
    whole = convert.LiteRTModel(blob)
    xq = whole.quantize_input(x[:1])
    assert np.array_equal(convert.LiteRTModel(plain).invoke_raw(xq), whole.invoke_raw(xq))
    ref = OpResolverType.BUILTIN_REF
    expected = convert.LiteRTModel(blob, op_resolver=ref).invoke_raw(xq)
    for stripped in (plain, micro):
        assert np.array_equal(convert.LiteRTModel(stripped, op_resolver=ref).invoke_raw(xq), expected)
        assert np.array_equal(tflm.run(stripped, xq, tflm.smallest_arena(blob)).reshape(expected.shape), expected)
    assert tflm.smallest_arena(micro) <= tflm.smallest_arena(blob)
    assert all(not t["name"] for t in convert.LiteRTModel(micro).interpreter.get_tensor_details())
    tile = resize_tflite(micro, (16, 16))  # the stripped model still resizes for tiling
    assert list(convert.LiteRTModel(tile).input["shape"]) == [1, 16, 16, 3]
    assert len(convert.strip(fp32)) < len(fp32)


def _trained_quarter(pairs, size):
    """Quarter MultiResUNet trained briefly at 64x64 (seconds), rebuilt for size x size (it is fully convolutional)."""
    from zoo.training.losses import get_loss

    keras.utils.set_random_seed(0)
    x, y = data.load_arrays(pairs, data.DataConfig((64, 64), 3))
    model = zoo.build_model("quarter_multiresunet", input_shape=(64, 64, 3))
    model.compile(keras.optimizers.Adam(3e-3), get_loss("weighted_bce"))
    model.fit(x, y, batch_size=8, epochs=6, verbose=0)
    return resized_keras_model(model, (size, size))


def test_real_images_tiled_int8_matches_whole_image_within_256k(tmp_path):
    """Microplastics (bundled) through the deployment pipeline with --mcu-ram 256K, then DSB2018 nuclei."""
    from deploy.options import DeployOptions
    from deploy.pipeline import run
    from zoo.training.losses import get_loss

    pairs = data.find_pairs(SAMPLE_DATA)
    model = _trained_quarter(pairs[:32], 96)
    cfg = data.DataConfig((96, 96), 3)
    report = run(model, tmp_path, train_pairs=pairs[:8], eval_pairs=pairs[32:35], data_cfg=cfg, loss=get_loss("bce"),
                 options=DeployOptions(mcu_ram=256 * 1024), log=lambda *_: None)
    t = report["tiling"]
    assert t["mode"] == "exact" and t["tile_arena"] <= 256 * 1024 < t["whole_image_arena"]
    assert t["halo"] == 14 and t["tiles"] == 36 and t["tile_input"] == 44
    assert t["litert"]["identical_outputs"] == 1.0 and t["litert"]["mask_agreement"] >= 0.999
    assert abs(t["litert"]["dice_change_points"]) <= 0.1 and t["litert"]["dice_whole"] > 20
    assert t["tflm_first_image"] == {"identical_to_litert_reference_tiles": True, "identical_to_whole_image": 1.0,
                                     "tiles_checked": 32, "tiles_total": 36}
    assert not tflm.fits((tmp_path / t["tile_model"]).read_bytes(), t["tile_arena"] - 2048)
    assert json.loads((tmp_path / "report.json").read_text())["tiling"]["tiles"] == 36
    text = (tmp_path / "report.md").read_text()
    assert "Chosen tile: 44x44" in text and (tmp_path / "tiling.png").is_file()
    assert t["mcu"]["compute_factor"] == pytest.approx(36 * 44 * 44 / 96 ** 2, rel=1e-3)  # MACs scale with pixels
    assert "7.56x the whole-image MACs" in text and "per image" in text
    assert report["variants"]["tflite_int8"]["stripped_bytes"] < report["variants"]["tflite_int8"]["bytes"]
    assert "kTile = 44;" in (tmp_path / "firmware" / "tiling_config.h").read_text()

    nuclei = data.find_pairs(shared_dataset("dsb2018_nuclei"))[:2]
    x, y = data.load_arrays(nuclei, cfg)
    blob = _int8(model, x)
    t = tiling.tile_deployment(model, blob, x, y, mcu_ram=256 * 1024, log=lambda *_: None)
    assert t["mode"] == "exact" and t["litert"]["identical_outputs"] == 1.0
    assert abs(t["litert"]["dice_change_points"]) <= 0.1


@pytest.mark.slow
@pytest.mark.parametrize("name", MCU_SIZED)
@pytest.mark.parametrize("dataset", ["sample_microplastics", "dsb2018_nuclei"])
def test_trained_models_at_256_in_256k(tmp_path, name, dataset):
    """The proof at full size: train at 256x256 on real images, deploy with --mcu-ram 256K. Half
    MultiResUNet's exact tile does not fit 256 KB, so it runs the measured approximate mode."""
    import train

    root = SAMPLE_DATA if dataset == "sample_microplastics" else shared_dataset(dataset)
    code = train.main(["--model", name, "--data", str(root), "--image-size", "256", "--epochs", "8",
                       "--batch-size", "4", "--loss", "bce_dice", "--lr-schedule", "constant", "--lr", "3e-3",
                       "--output", str(tmp_path), "--name", "run", "--mcu-ram", "256K",
                       "--export-dir", str(tmp_path / "export"), "--histogram-freq", "0"])
    assert code == 0
    t = json.loads((tmp_path / "export" / "report.json").read_text())["tiling"]
    print(json.dumps({k: v for k, v in t.items() if k != "arena_curve"}))
    assert t["tile_arena"] <= 256 * 1024 and t["litert"]["mask_agreement"] >= 0.999
    assert abs(t["litert"]["dice_change_points"]) <= 0.1
    assert t["tflm_first_image"]["identical_to_litert_reference_tiles"]
    if t["mode"] == "exact":
        assert t["litert"]["identical_outputs"] == 1.0 and t["tflm_first_image"]["identical_to_whole_image"] == 1.0


@pytest.mark.skipif(shutil.which("g++") is None, reason="no g++ on this machine")
def test_firmware_files_are_valid_cpp(tmp_path, quarter64):
    """The written files compile against the vendored TFLite-Micro headers (test_firmware.py builds and runs them)."""
    from deploy.export import TFLM_TREE

    blob = resize_tflite(quarter64[2], (44, 44))
    plan = plan_tiles((64, 64), 44, 14, 2)
    files = write_firmware(tmp_path / "fw", blob, plan, 123456, convert.LiteRTModel(blob))
    assert {f.name for f in files} == {"model_data.h", "model_data.cc", "model_ops.h", "tiling_config.h",
                                       "tiled_inference.cc", "tiled_inference.h"}
    config = (tmp_path / "fw" / "tiling_config.h").read_text()
    assert "kTileStartY[kTilesY] = {0, 2, 18, 20};" in config and "kCoreEndX[kTilesX] = {16, 32, 48, 64};" in config
    assert "kTileHeight = 44;" in config and "kArenaBytes = 123456;" in config
    ops = (tmp_path / "fw" / "model_ops.h").read_text()
    assert "resolver.AddConv2D()" in ops and "resolver.AddResizeNearestNeighbor()" in ops
    includes = [f"-I{TFLM_TREE / d}" for d in ("", "third_party/flatbuffers/include", "third_party/gemmlowp")]
    done = subprocess.run(["g++", "-std=c++17", "-fsyntax-only", "-Wall", "-Werror", "-DTF_LITE_STATIC_MEMORY",
                           *includes, f"-I{tmp_path / 'fw'}", str(tmp_path / "fw" / "tiled_inference.cc")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_cli_parses_the_ram_budget():
    import argparse

    from deploy.options import add_deploy_arguments, options_from_args, parse_bytes as _bytes

    assert [_bytes(t) for t in ("262144", "256K", "256KB", "1M", "0.5m")] == [262144] * 3 + [2**20, 2**19]
    with pytest.raises(argparse.ArgumentTypeError, match="256K"):
        _bytes("lots")
    p = argparse.ArgumentParser()
    add_deploy_arguments(p, quantize_default=())
    options = options_from_args(p.parse_args(["--mcu-ram", "256K", "--tile-halo", "8"]))
    assert options.mcu_ram == 262144 and options.tile_halo == "8" and options.quantize == ("int8",)
    with pytest.raises(SystemExit):
        p.parse_args(["--tile-halo", "wide"])


def test_plot_command_parses(capsys):
    """`python -m deploy.tiling --plot` is the package's __main__; its flags parse (the plot itself is slow)."""
    from deploy.tiling.__main__ import main

    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0 and "--mcu-ram" in capsys.readouterr().out


def test_cli_names_the_floor_of_an_impossible_budget(capsys):
    """`python -m deploy.tiling --mcu-ram 64`: each model gets one line with the floor of its smallest tile,
    found from shapes, without converting anything."""
    from deploy.tiling.__main__ import main

    assert main(["--mcu-ram", "64", "--image-size", "64"]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if "does not fit" in ln]
    assert len(lines) == 2 and all("needs more than" in ln and "B of tensor arena" in ln for ln in lines)
