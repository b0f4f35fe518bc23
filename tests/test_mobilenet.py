"""Paper 000's models: MobileNetV3 encoder equal to keras.applications (same weights), DeepLabV3+ and
U-Net counts as paper 000 reports them, QAT + pruning + full-INT8 with HARD_SWISH, the
missing-weights error, input normalisation in the data pipeline, and training on Kvasir images."""
import json

import numpy as np
import pytest
import tf_keras as keras

import train
import zoo
from conftest import shared_dataset
from deploy import convert
from zoo.training import data
from zoo.models.complexity import count_macs
from zoo.models.encoders import mobilenetv3
from zoo.models.pretrained import WeightsNotFound
from zoo.models.quantization import quantize_model
from test_pretrained import offline

# Keras layers holding each stride's feature map (Small's stride-4 block has no residual Add).
KERAS_TAPS = {"large": {2: "expanded_conv/Add", 4: "expanded_conv_2/Add", 8: "expanded_conv_5/Add",
                        16: "expanded_conv_11/Add"},
              "small": {4: "expanded_conv/project/BatchNorm", 8: "expanded_conv_2/Add", 16: "expanded_conv_7/Add"}}


def trainable(model) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def _randomise_batchnorm(model, seed=0):
    """Non-trivial BN statistics, so a wrong mapping of moving mean/variance cannot pass."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.get_weights()[0].shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, n), rng.normal(0, 0.1, n), rng.normal(0, 0.1, n),
                               rng.uniform(0.5, 1.5, n)])


@pytest.mark.parametrize("variant", ["large", "small"])
def test_encoder_equals_keras_applications_with_the_same_weights(variant, tmp_path):
    shape = (64, 96, 3)
    ref = mobilenetv3.keras_reference(variant, alpha=0.75, input_shape=shape)  # random weights, weights=None
    _randomise_batchnorm(ref)
    ref.save_weights(tmp_path / "w.h5")  # the format of the official no-top files
    inputs = keras.Input(shape)
    feats = mobilenetv3.mobilenetv3(inputs, variant=variant, alpha=0.75)
    ours = keras.Model(inputs, [feats[k] for k in sorted(feats)])
    assert mobilenetv3.load_imagenet(ours, tmp_path / "w.h5", variant=variant, alpha=0.75) == \
        sum(1 for layer in ref.layers if layer.get_weights())
    assert ours.count_params() == ref.count_params()
    taps = KERAS_TAPS[variant]
    ref_feats = keras.Model(ref.input, [ref.get_layer(n).output for n in taps.values()] + [ref.output])
    x = np.random.default_rng(1).random((2, *shape), dtype=np.float32)
    expected = ref_feats.predict(255 * x, verbose=0)  # Keras' own preprocessing: [0, 255] -> [-1, 1]
    cfg = data.DataConfig(shape[:2], normalization=mobilenetv3.INPUT_NORMALIZATION)
    got = dict(zip(sorted(feats), ours.predict(data.normalize(x, cfg), verbose=0)))
    for stride, want in zip([*taps, 32], expected):
        assert got[stride].shape == want.shape
        assert np.abs(got[stride] - want).max() < 1e-5, (variant, stride, np.abs(got[stride] - want).max())


def test_dilation_gives_output_stride_16_and_8():
    inputs = keras.Input((64, 64, 3))
    for os_, deep in ((32, 2), (16, 4), (8, 8)):
        feats = mobilenetv3.mobilenetv3(keras.Input((64, 64, 3)), output_stride=os_)
        assert feats[32].shape[1] == deep and feats[4].shape[1] == 16
    assert mobilenetv3.mobilenetv3(inputs, variant="small", minimalistic=True)[32].shape[-1] == 432


@pytest.mark.parametrize("name,kwargs,params,macs", [
    # paper 000: trainable parameters and conv multiply-accumulates at 288x384x3
    ("deeplabv3plus_mobilenetv3", {}, 3_212_369, 1.576e9),
    ("deeplabv3plus_mobilenetv3", {"variant": "small"}, 1_619_401, 1.088e9),
    ("deeplabv3plus_mobilenetv3", {"decoder_channels": 196}, 2_801_549, 1.219e9),
    ("deeplabv3plus_mobilenetv3", {"output_stride": 8}, 3_212_369, 4.139e9),
    ("unet_mobilenetv3", {}, 4_886_049, 4.754e9),
])
def test_parameter_and_mac_counts_match_spec(name, kwargs, params, macs):
    model = zoo.build_model(name, input_shape=(288, 384, 3), **kwargs)
    assert trainable(model) == params
    assert abs(count_macs(model) / macs - 1) < 0.001
    assert model.output_shape == (None, 288, 384, 1)


def test_registry_info_and_rates():
    info = zoo.get_model_info("deeplabv3plus_mobilenetv3")
    assert info["input_normalization"] == mobilenetv3.INPUT_NORMALIZATION and info["params"] == 3_212_369
    assert zoo.get_model_info("unet_mobilenetv3")["input_normalization"] == mobilenetv3.INPUT_NORMALIZATION
    model = zoo.build_model("deeplabv3plus_mobilenetv3", input_shape=(64, 64, 3), atrous_rates=(12, 24, 36))
    assert [model.get_layer(f"aspp_b{i}_depthwise").dilation_rate[0] for i in (1, 2, 3)] == [12, 24, 36]
    default = zoo.build_model("deeplabv3plus_mobilenetv3", input_shape=(64, 64, 3))
    assert default.get_layer("aspp_b2_depthwise").dilation_rate == (22, 22)
    assert default.get_layer("expanded_conv_13/depthwise").dilation_rate == (2, 2)  # output stride 16
    with pytest.raises(ValueError, match="not divisible"):
        zoo.build_model("unet_mobilenetv3", input_shape=(48, 64, 3))


def _two_blocks():
    """Stem and two MobileNetV3 blocks (hard-swish, squeeze-excite, stride 2, dilation 2) with a sigmoid head."""
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(16, 3, strides=2, padding="same", use_bias=False, name="Conv")(inputs)
    x = mobilenetv3.HardSwish(name="Conv/hard_swish")(keras.layers.BatchNormalization(name="Conv/BatchNorm")(x))
    x = mobilenetv3.inverted_residual(x, 3, 24, 5, 2, True, True, 1)
    x = mobilenetv3.inverted_residual(x, 4, 24, 3, 1, True, True, 2, dilation=2)
    x = keras.layers.Conv2D(16, 1, use_bias=False, name="c")(x)
    x = keras.layers.ReLU(name="c_relu")(keras.layers.BatchNormalization(name="c_bn")(x))
    return keras.Model(inputs, keras.layers.Conv2D(1, 1, activation="sigmoid", name="head_conv")(x))


@pytest.mark.parametrize("full", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_qat_prune_and_int8_keep_hard_swish_and_fuse_conv_bn(full):
    import tensorflow_model_optimization as tfmot

    # Default run: two blocks with every MobileNetV3 layer type. Slow run: the whole Small-variant DeepLabV3+.
    model = zoo.build_model("deeplabv3plus_mobilenetv3", input_shape=(32, 32, 3), variant="small",
                            decoder_channels=32) if full else _two_blocks()
    x = np.random.default_rng(0).random((2, 32, 32, 3), dtype=np.float32) * 2 - 1
    pruned = tfmot.sparsity.keras.prune_low_magnitude(model)
    assert pruned(x).shape == model(x).shape
    qat = quantize_model(model)
    assert np.abs(qat(x).numpy() - model(x).numpy()).max() < 0.25  # fake-quant at initial ranges
    cal = [x[:1], x[1:]]
    for mode, m in (("int8", model), ("qat", qat)):
        blob = convert.to_tflite(m, mode, cal)
        ops = [op["op"] for op in convert.list_ops(blob)]
        assert "HARD_SWISH" in ops and "QUANTIZE" not in ops and "DEQUANTIZE" not in ops, (mode, sorted(set(ops)))
        # conv + BN (+ ReLU) fold into one CONV_2D: no BN op survives, and no stand-alone RELU in the encoder
        assert not [o for o in ops if "BATCH" in o or o == "RELU"], (mode, sorted(set(ops)))
        lite = convert.LiteRTModel(blob)
        assert lite.input["dtype"] == np.int8
        y = lite.predict(x)
        assert y.shape == model(x).shape and np.isfinite(y).all()
        if mode == "int8":
            assert np.abs(y - model(x).numpy()).max() < 0.1


def test_missing_imagenet_weights_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    offline(monkeypatch)
    with pytest.raises(WeightsNotFound) as err:
        zoo.build_model("unet_mobilenetv3", input_shape=(32, 32, 3), encoder_weights="imagenet")
    msg = str(err.value)
    name = "weights_mobilenet_v3_large_224_0.75_float_no_top_v2.h5"
    assert "\n" not in msg and name in msg and str(tmp_path / "models") in msg and "storage.googleapis.com" in msg
    with pytest.raises(WeightsNotFound, match="weights_mobilenet_v3_small_224_0.75"):
        zoo.build_model("deeplabv3plus_mobilenetv3", input_shape=(32, 32, 3), variant="small",
                        encoder_weights=tmp_path / "nowhere.h5")


def test_train_py_encoder_weights_errors_exit_2(tmp_path, monkeypatch, capsys, sample_data):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    offline(monkeypatch)
    with pytest.raises(SystemExit) as e:
        train.parse_args(["--model", "unet", "--encoder-weights", "imagenet"])
    assert e.value.code == 2 and "has no pretrained encoder" in capsys.readouterr().err
    code = train.main(["--model", "deeplabv3plus_mobilenetv3", "--encoder-weights", "imagenet", "--data",
                       str(sample_data), "--image-size", "32", "--output", str(tmp_path / "runs")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("error: --encoder-weights:") and "put it in" in err[-1]
    assert not (tmp_path / "runs").exists()


def test_normalisation_is_applied_in_the_dataset_and_recorded(sample_data):
    pairs = data.find_pairs(sample_data)[:4]
    plain = data.DataConfig((32, 32))
    norm = data.DataConfig((32, 32), normalization={"mean": (0.5, 0.4, 0.3), "std": (0.5, 0.25, 0.2)})
    x0 = np.concatenate([x for x, _ in data.make_dataset(pairs, plain, batch_size=2)])
    x1 = np.concatenate([x for x, _ in data.make_dataset(pairs, norm, batch_size=2)])
    assert 0 <= x0.min() and x0.max() <= 1
    np.testing.assert_allclose(x1, (x0 - [0.5, 0.4, 0.3]) / [0.5, 0.25, 0.2], atol=1e-6)
    np.testing.assert_allclose(data.normalize(x0, norm), x1, atol=1e-6)
    grey = data.DataConfig((32, 32), channels=1, normalization=mobilenetv3.INPUT_NORMALIZATION)
    assert data.normalize(np.ones((1, 2, 2, 1), np.float32), grey).max() == 1.0
    with pytest.raises(ValueError, match="normalization"):
        data.DataConfig(normalization={"mean": (0.5,), "std": (0.5,)})
    cfg, _ = train.parse_args(["--model", "unet_mobilenetv3"])
    assert cfg.input_normalization == mobilenetv3.INPUT_NORMALIZATION
    assert train.parse_args(["--model", "unet"])[0].input_normalization is None
    from deploy.report import input_line

    assert zoo.get_model_info("deeplabv3plus_mobilenetv3")["input_normalization"] == mobilenetv3.INPUT_NORMALIZATION
    assert "(0.5, 0.5, 0.5)" in input_line(mobilenetv3.INPUT_NORMALIZATION) and "[0, 1]" in input_line(None)


def test_few_training_steps_on_kvasir_lower_the_loss():
    root = shared_dataset("kvasir_seg")
    pairs = data.find_pairs(root)[:8]
    cfg = data.DataConfig((64, 64), normalization=mobilenetv3.INPUT_NORMALIZATION)
    x, y = next(iter(data.make_dataset(pairs, cfg, batch_size=8)))
    keras.utils.set_random_seed(0)
    model = zoo.build_model("deeplabv3plus_mobilenetv3", input_shape=(64, 64, 3), variant="small",
                            minimalistic=True, decoder_channels=64)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    losses = [float(model.train_on_batch(x, y)) for _ in range(15)]  # training-mode BN: the loss being minimised
    assert np.isfinite(losses).all() and losses[-1] < 0.8 * losses[0], losses


def test_list_models_shows_macs_beside_paper(monkeypatch):
    from zoo.models.complexity import models_table

    table = models_table("deeplabv3plus_mobilenetv3")
    row = [line for line in table.splitlines() if line.startswith("deeplabv3plus_mobilenetv3")][0]
    assert "3.2124M" in row and "1.576G" in row and "1.623G" in row and "288x384x3" in row


@pytest.mark.slow
def test_config_json_records_normalisation(tmp_path, sample_data):
    code = train.main(["--model", "deeplabv3plus_mobilenetv3", "--model-arg", "variant='small'", "--data",
                       str(sample_data), "--image-size", "32", "--epochs", "1", "--output", str(tmp_path),
                       "--name", "r", "--histogram-freq", "0"])
    assert code == 0
    saved = json.loads((tmp_path / "r" / "config.json").read_text())
    assert saved["input_normalization"] == {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}


def test_hard_swish_model_saves_and_loads_in_safe_mode(tmp_path):
    from zoo.files import load_model

    model = _two_blocks()
    x = np.random.default_rng(3).random((1, 32, 32, 3), dtype=np.float32)
    model.save(tmp_path / "m.keras")
    again = load_model(tmp_path / "m.keras", compile=False)
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
