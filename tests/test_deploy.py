"""deploy/: every zoo model converts to INT8 (PTQ and QAT) and runs in LiteRT, small ones in
TFLite-Micro; a model trained on real images keeps its Dice after INT8; Edge TPU fallbacks and
conversion failures are reported in one line; ONNX and the C array are checked."""
import json

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

import train
import zoo
from zoo.models.quantization import quantize_model
from conftest import shared_dataset
from deploy import compress, convert, edgetpu, export, tflm
from deploy.options import DeployOptions
from zoo.training.losses import get_loss

MCU_SIZED = ("quarter_multiresunet", "half_multiresunet")


def _images(n=3, shape=(32, 32, 3), seed=0):
    return np.random.default_rng(seed).random((n, *shape), dtype=np.float32)


@pytest.mark.parametrize("name", zoo.list_models(pairs=False))  # the pairs: tests/test_matrix.py
def test_every_model_converts_ptq_and_qat_int8(name):
    model = zoo.get_model_entry(name).build_small(input_shape=(32, 32, 3))  # the same graph and ops, smaller
    x = _images()
    cal = [x[i:i + 1] for i in range(3)]
    for blob in (convert.to_tflite(model, "int8", cal),
                 convert.to_tflite(quantize_model(model), "qat", cal)):
        lite = convert.LiteRTModel(blob)
        assert lite.input["dtype"] == np.int8 and lite.output["dtype"] == np.int8
        assert list(lite.input["shape"]) == [1, 32, 32, 3]  # batch 1, static
        y = lite.predict(x)
        assert y.shape == (3, 32, 32, 1) and np.isfinite(y).all()
        if name in MCU_SIZED:
            arena = tflm.smallest_arena(blob)
            assert tflm.fits(blob, arena) and not tflm.fits(blob, arena - 2048)
            xq = lite.quantize_input(x[:1])
            assert np.array_equal(tflm.run(blob, xq, arena),
                                  convert.LiteRTModel(blob, op_resolver=_ref()).invoke_raw(xq))


def test_arena_search_survives_tflm_crashing_on_a_too_small_arena():
    """TFLM's interpreter segfaults (instead of failing) for some too-small arenas of this model (32-64 KB); the
    search asks in a child process, counts the crash as "does not fit", and the arena it finds runs in-process."""
    model = zoo.get_model_entry("deeplabv3plus_mobilenetv3").build_small(input_shape=(32, 32, 3), activation=None)
    x = _images(1)
    blob = convert.strip(convert.to_tflite(model, "int8", [x]), micro=True)
    assert not tflm.fits(blob, 64 * 1024)  # crashes a process that asks in-process
    arena = tflm.smallest_arena(blob)
    assert tflm.fits(blob, arena) and not tflm.fits(blob, arena - 2048)
    xq = convert.LiteRTModel(blob).quantize_input(x)
    assert tflm.run(blob, xq, arena).shape == (1, 32, 32, 1)


def _ref():
    from ai_edge_litert.interpreter import OpResolverType

    return OpResolverType.BUILTIN_REF


def test_float_modes_match_keras():
    model = zoo.build_model("quarter_multiresunet", input_shape=(32, 32, 3))
    x = _images(1)
    ref = model.predict(x, verbose=0)
    for mode, tol in (("fp32", 1e-5), ("float16", 5e-3), ("dynamic", 0.1)):
        assert np.abs(convert.LiteRTModel(convert.to_tflite(model, mode))(x) - ref).max() < tol, mode
    with pytest.raises(ValueError, match="representative_data"):
        convert.to_tflite(model, "int8")
    with pytest.raises(ValueError, match="unknown quantization mode"):
        convert.to_tflite(model, "int4")


def test_conversion_failure_is_one_line_naming_the_op():
    inp = keras.Input((8, 8, 1))
    out = keras.layers.Lambda(lambda t: tf.math.atan(t), name="atan_layer")(inp)  # no TFLite builtin
    model = keras.Model(inp, out, name="odd")
    with pytest.raises(convert.ConversionError) as err:
        convert.to_tflite(model, "int8", [np.ones((1, 8, 8, 1), np.float32)])
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("odd -> int8:") and "Atan" in msg


def test_edgetpu_check_flags_an_unsupported_op():
    inp = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="c1")(inp)
    x = keras.layers.LeakyReLU(0.1, name="leaky")(x)  # LEAKY_RELU: TFLite int8 yes, Edge TPU no
    out = keras.layers.Conv2D(1, 1, activation="sigmoid", name="c2")(x)
    blob = convert.to_tflite(keras.Model(inp, out), "int8", [_images(1, (16, 16, 3))])
    result = edgetpu.check_static(blob)
    assert result["first_fallback"].startswith("LEAKY_RELU")
    assert 0 < result["mapped"] < result["ops"]
    assert any("after the first unsupported op" in line for line in result["cpu_ops"])
    good = convert.to_tflite(zoo.build_model("quarter_multiresunet", input_shape=(32, 32, 3)), "int8", [_images(1)])
    assert edgetpu.check_static(good)["mapped_fraction"] == 1.0
    fp32 = edgetpu.check_static(convert.to_tflite(keras.Model(inp, out), "fp32"))
    assert fp32["mapped"] == 0 and "not 8-bit quantized" in fp32["first_fallback"]


def test_edgetpu_check_flags_grouped_convolutions():
    inp = keras.Input((16, 16, 8))
    x = keras.layers.Conv2D(8, 3, padding="same", name="plain")(inp)
    x = keras.layers.Conv2D(8, 3, padding="same", groups=4, name="grouped")(x)  # RegNet's group conv
    blob = convert.to_tflite(keras.Model(inp, x), "int8", [_images(1, (16, 16, 8))])
    result = edgetpu.check_static(blob)
    assert any(line.startswith("CONV_2D #1:") and "grouped CONV_2D" in line for line in result["cpu_ops"])
    # the op version belongs to the operator code: a grouped conv raises every CONV_2D to version 6
    assert result["first_fallback"].startswith("CONV_2D #0: uncertain: op version 6")
    assert result["mapped"] == 0 and result["uncertain"] and result["cpu_ops"]


def test_onnx_and_c_array(tmp_path):
    model = zoo.build_model("quarter_multiresunet", input_shape=(32, 32, 3))
    onnx = export.to_onnx(model, tmp_path / "m.onnx", _images(1))
    assert onnx["max_abs_diff"] < 1e-4 and onnx["bytes"] > 100_000
    blob = convert.to_tflite(model, "int8", [_images(1)])
    header, source = export.to_c_array(blob, tmp_path)
    text = source.read_text()
    assert f"g_model_len = {len(blob)};" in text and "alignas(16)" in text
    values = bytes(int(v, 16) for v in text[text.index("{") + 1:text.index("}")].replace(",", " ").split())
    assert values == blob
    assert "extern const unsigned char g_model[];" in header.read_text()


def test_pruning_reaches_target_sparsity_and_shrinks_gzip():
    import gzip

    model = zoo.build_model("quarter_multiresunet", input_shape=(32, 32, 3))
    x = _images(8)
    y = (x[..., :1] > 0.7).astype(np.float32)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
    before = len(gzip.compress(convert.to_tflite(model, "fp32")))
    weights = model.get_weights()
    pruned, sparsity = compress.prune(model, ds, get_loss("bce"), sparsity=0.6, schedule="constant", epochs=2)
    assert all(np.array_equal(a, b) for a, b in zip(weights, model.get_weights()))  # a copy was pruned
    big = {k: v for k, v in sparsity.items() if k != "head_conv"}
    assert all(abs(v - 0.6) < 0.05 for v in big.values()), big
    assert not any("prune" in layer.name for layer in pruned.layers)  # wrappers stripped
    after = len(gzip.compress(convert.to_tflite(pruned, "fp32")))
    assert after < 0.75 * before
    two_four, s24 = compress.prune(model, ds, get_loss("bce"), m_by_n=(2, 4), epochs=1)
    assert abs(s24["stage0_mrb_m1_conv"] - 0.5) < 0.01  # 32 input channels: whole groups of 4


def test_fine_tune_takes_the_optimizer_by_name_or_instance():
    model = zoo.build_model("quarter_multiresunet", input_shape=(32, 32, 3))
    x = _images(4)
    ds = tf.data.Dataset.from_tensor_slices((x, (x[..., :1] > 0.7).astype(np.float32))).batch(4)
    compress.fine_tune(model, ds, 1, get_loss("bce"))  # deploy's default: Adam at 1e-4
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-4)
    compress.fine_tune(model, ds, 1, "dice_bce", 3e-4, optimizer="rmsprop")  # names: a loss and an optimizer
    assert isinstance(model.optimizer, keras.optimizers.RMSprop)
    assert float(model.optimizer.learning_rate) == pytest.approx(3e-4)
    sgd = keras.optimizers.SGD(0.01)
    compress.fine_tune(model, ds, 1, get_loss("bce"), optimizer=sgd)
    assert model.optimizer is sgd
    assert compress.pruning_end_step(steps=25, frequency=10) == 20  # the last mask update reaches the target
    assert compress.pruning_end_step(steps=4, frequency=1) == 3


def test_one_vocabulary_for_modes_and_targets():
    """One name per mode and target: the CLI value, the conversion mode, the file name and the report key."""
    import argparse

    from deploy import formats
    from deploy.options import add_deploy_arguments, options_from_args

    assert tuple(formats.MODES) == convert.MODES == ("fp32", "float16", "dynamic", "int8", "qat")
    assert formats.QUANTIZE_CHOICES == ("float16", "dynamic", "int8", "qat")  # fp32 is always written
    assert formats.INT8_MODES == convert.INT8_MODES == ("int8", "qat")
    assert formats.TARGET_CHOICES == ("tflite", "onnx", "tflm", "edgetpu")
    assert [t for t, f in formats.TARGETS.items() if f.int8] == ["tflm", "edgetpu"]
    assert formats.file_name("unet_64x64", "float16") == "unet_64x64_float16.tflite"
    assert formats.variant_key("float16") == "tflite_float16"
    p = argparse.ArgumentParser()
    add_deploy_arguments(p)
    assert options_from_args(p.parse_args(["--quantize", "float16,qat"])).quantize == ("float16", "qat")
    with pytest.raises(SystemExit):
        p.parse_args(["--quantize", "fp16"])
    with pytest.raises(ValueError, match="unknown quantization mode"):
        formats.variant_key("fp16")
    assert "| `float16` | `_float16.tflite` | no |" in formats.markdown()


def test_int8_keeps_dice_on_real_nuclei(tmp_path):
    """Train a light model on real DSB2018 nuclei (96x96, a few CPU minutes), then PTQ INT8 and QAT."""
    root = shared_dataset("dsb2018_nuclei")
    code = train.main(["--model", "half_multiresunet", "--data", str(root), "--image-size", "96", "--epochs", "6",
                       "--batch-size", "8", "--loss", "bce_dice", "--lr-schedule", "constant", "--lr", "1e-3",
                       "--output", str(tmp_path), "--name", "nuclei", "--quantize", "int8,qat",
                       "--targets", "tflite,tflm,edgetpu", "--finetune-epochs", "1",
                       "--export-dir", str(tmp_path / "export")])
    assert code == 0
    report = json.loads((tmp_path / "export" / "report.json").read_text())
    v = report["variants"]
    assert list(v) == ["keras_float", "tflite_fp32", "tflite_int8", "tflite_qat"]  # PTQ is scored last, listed in order
    float_dice = v["keras_float"]["scores"]["f1"]
    assert float_dice > 0.5, float_dice  # the model really learned something (0.61-0.80 in our runs)
    # PTQ moved Dice by 2.26, at most 2 and 3.55 points in three runs (CPU training is not bit-reproducible; the
    # 3.55 model gave the same INT8 Dice with the converter's in-process calibration as with deploy's workers)
    assert abs(v["tflite_int8"]["scores"]["f1"] - float_dice) <= 0.04
    # QAT starts from calibrated ranges (PTQ's function) and keeps the better of that start and its fine-tuned
    # epoch on the validation images. Its extra epoch of training may raise test Dice a lot (+18.6 points over a
    # weak float model in one run), which is training, not quantization; so only a loss is bounded. Before QAT
    # kept the best epoch it scored 7.5 and 10.6 points below float in two runs.
    history, kept = report["qat"]["val_dice_per_epoch"], report["qat"]["kept_epoch"]
    assert len(history) == 2 and history[kept] == max(history)
    qat_dice = v["tflite_qat"]["scores"]["f1"]
    assert qat_dice >= float_dice - 0.04, (float_dice, qat_dice, report["qat"])
    # Measured 31.4 %: in a 0.2 M-parameter model, flatbuffer metadata (tensor names, per-channel
    # scales) and int32 biases are a visible share; 1.8 M-parameter Half U-Net INT8 is 25.5 % of fp32.
    assert v["tflite_int8"]["bytes"] < 0.33 * v["tflite_fp32"]["bytes"]
    assert v["tflite_int8"]["tflm"]["max_diff_vs_litert_ref"] == 0
    assert v["tflite_int8"]["edgetpu"]["mapped_fraction"] == 1.0
    for name in ("report.md", "predictions.png", "model_data.cc", "model_data.h",
                 "half_multiresunet_96x96_int8.tflite", "half_multiresunet_96x96_qat.json"):
        assert (tmp_path / "export" / name).is_file(), name


def test_deploy_cli_on_a_run_folder(tmp_path, sample_data):
    model = zoo.build_model("quarter_multiresunet", input_shape=(64, 64, 3))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    model.save(run_dir / "best.keras")
    (run_dir / "config.json").write_text(json.dumps({"model": "quarter_multiresunet", "data": str(sample_data),
                                                     "image_size": [64, 64], "loss": "bce", "seed": 0,
                                                     "val_fraction": 0.1, "test_fraction": 0.2}))
    from deploy.__main__ import main

    assert main([str(run_dir), "--quantize", "int8", "--targets", "tflite,onnx", "--output", str(tmp_path / "o")]) == 0
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["eval_images"] == 8 and set(report["variants"]) == {"keras_float", "tflite_fp32", "tflite_int8"}
    assert "split rebuilt from the files now in" in report["split_source"]  # a record without split.json or pairs.json
    assert report["onnx"]["max_abs_diff"] < 1e-4
    with pytest.raises(SystemExit) as e:
        main([str(tmp_path / "nowhere.keras")])
    assert e.value.code == 2


def test_options_reject_unknown_modes():
    with pytest.raises(ValueError, match="unknown quantize mode or target"):
        DeployOptions(quantize=("int4",))
