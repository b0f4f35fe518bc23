"""The extra encoders (MobileNetV2, EfficientNet-Lite, Xception, RegNetY): feature strides and
channels, numeric equality with keras.applications on the same random weights (copied through each
module's `load_imagenet` from a saved .h5, as the official files would be), the one-line missing-weights
error offline, and tfmot QAT + pruning + full-INT8 LiteRT on a small model built on each."""
import numpy as np
import pytest
import tensorflow_model_optimization as tfmot
import tf_keras as keras

from deploy import convert
from test_efficientnet import randomise
from test_pretrained import offline
from zoo.models.encoders import efficientnet as effnet, mobilenetv2, regnet, xception
from zoo.models.pretrained import WeightsNotFound
from zoo.models.quantization import quantize_model


@pytest.fixture(autouse=True)
def _seeded():
    """Same random weights every run (INT8 conversion results depend on them)."""
    keras.utils.set_random_seed(0)


def randomise_batchnorm(model):
    """Non-trivial BN parameters and statistics, so a wrong mapping of any of them cannot pass."""
    randomise(model, convs=False)


def normalise(x, norm):
    return ((x - np.array(norm["mean"], np.float32)) / np.array(norm["std"], np.float32)).astype(np.float32)


def encoder_model(builder, shape, **kw):
    inputs = keras.Input(shape)
    features = builder(inputs, **kw)
    return keras.Model(inputs, [features[s] for s in sorted(features)]), features


def assert_features_equal(ours, reference, ref_taps, x_ours, x_ref, tol=1e-5):
    """Our encoder's maps (strides in order) equal the reference's layers `ref_taps` (same order).

    The error is relative to each map's largest value (random weights let deep maps grow to 1e2..1e4);
    returns the largest (absolute, relative) error."""
    ref = keras.Model(reference.input, [reference.get_layer(n).output for n in ref_taps])
    got, want = ours(x_ours, training=False), ref(x_ref, training=False)
    errors = {}
    for name, a, b in zip(ref_taps, got, want):
        a, b = a.numpy(), b.numpy()
        assert a.shape == b.shape, (name, a.shape, b.shape)
        assert b.std() > 1e-3, name  # a live map, not a vanished one
        errors[name] = (float(np.abs(a - b).max()), float(np.abs(a - b).max() / np.abs(b).max()))
    assert max(rel for _, rel in errors.values()) < tol, errors
    return max(e[0] for e in errors.values()), max(e[1] for e in errors.values())


def small_head_model(builder, shape=(32, 32, 3), **kw):
    """Encoder -> stride-32 map -> 1x1 conv -> BN -> ReLU -> upsampled stride-8 map added -> sigmoid head."""
    inputs = keras.Input(shape, name="image")
    f = builder(inputs, **kw)
    x = keras.layers.Conv2D(8, 1, use_bias=False, name="c32")(f[32])
    x = keras.layers.ReLU(name="c32_relu")(keras.layers.BatchNormalization(name="c32_bn")(x))
    x = keras.layers.UpSampling2D(f[8].shape[1] // x.shape[1], name="up")(x)
    y = keras.layers.Conv2D(8, 1, use_bias=False, name="c8")(f[8])
    x = keras.layers.Add(name="sum")([x, keras.layers.BatchNormalization(name="c8_bn")(y)])
    return keras.Model(inputs, keras.layers.Conv2D(1, 1, activation="sigmoid", name="head_conv")(x))


def check_qat_prune_int8(model, expect_ops=()):
    """tfmot QAT and pruning accept `model`; PTQ and QAT full-INT8 files run in LiteRT. Returns the QAT ops."""
    x = np.random.default_rng(0).random((2, *model.input_shape[1:]), dtype=np.float32) * 2 - 1
    pruned = tfmot.sparsity.keras.prune_low_magnitude(model)
    assert pruned(x).shape == model(x).shape
    qat = quantize_model(model)
    assert qat(x).shape == model(x).shape
    cal = [x[:1], x[1:]]
    for mode, m in (("int8", model), ("qat", qat)):
        blob = convert.to_tflite(m, mode, cal)
        ops = {op["op"] for op in convert.list_ops(blob)}
        assert set(expect_ops) <= ops and "QUANTIZE" not in ops and "DEQUANTIZE" not in ops, (mode, sorted(ops))
        lite = convert.LiteRTModel(blob)
        assert lite.input["dtype"] == np.int8
        y = lite.predict(x)
        assert y.shape == model(x).shape and np.isfinite(y).all()
    return ops


def check_missing_weights_one_line(load, filename, tmp_path, monkeypatch, model):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    offline(monkeypatch)
    with pytest.raises(WeightsNotFound) as err:
        load(model, None)
    msg = str(err.value)
    assert "\n" not in msg and filename in msg and str(tmp_path / "models") in msg and "storage.googleapis.com" in msg
    with pytest.raises(WeightsNotFound, match=filename):
        load(model, tmp_path / "nowhere.h5")


# --- MobileNetV2 -------------------------------------------------------------------------------

def test_mobilenetv2_features_and_dilation():
    _, f = encoder_model(mobilenetv2.mobilenetv2, (64, 64, 3))
    assert {s: t.shape[1:] for s, t in f.items()} == {
        2: (32, 32, 16), 4: (16, 16, 24), 8: (8, 8, 32), 16: (4, 4, 96), 32: (2, 2, 1280)}
    _, e = encoder_model(mobilenetv2.mobilenetv2, (64, 64, 3), taps="expand", top=False)
    assert {s: t.shape[1:] for s, t in e.items()} == {
        2: (32, 32, 96), 4: (16, 16, 144), 8: (8, 8, 192), 16: (4, 4, 576), 32: (2, 2, 320)}
    for os_, deep in ((16, 4), (8, 8)):
        model, d = encoder_model(mobilenetv2.mobilenetv2, (64, 64, 3), alpha=0.35, output_stride=os_)
        assert d[32].shape[1] == d[16].shape[1] == deep and d[4].shape[1] == 16
        assert model.get_layer("block_14_depthwise").dilation_rate == ((2, 2) if os_ == 16 else (4, 4))
    with pytest.raises(ValueError, match="taps"):
        mobilenetv2.mobilenetv2(keras.Input((64, 64, 3)), taps="x")


@pytest.mark.parametrize("alpha", [0.35, 1.0])
def test_mobilenetv2_equals_keras_applications(alpha, tmp_path):
    shape = (64, 96, 3)
    ref = mobilenetv2.keras_reference(alpha, input_shape=shape)
    randomise_batchnorm(ref)
    ref.save_weights(tmp_path / mobilenetv2.imagenet_filename(alpha, 224))  # the official no-top layout
    ours, _ = encoder_model(mobilenetv2.mobilenetv2, shape, alpha=alpha)
    assert mobilenetv2.load_imagenet(ours, tmp_path, alpha=alpha) == sum(1 for l in ref.layers if l.get_weights())
    assert ours.count_params() == ref.count_params()
    x = np.random.default_rng(1).random((2, *shape), dtype=np.float32)
    taps = [*mobilenetv2.TAPS["blocks"].values(), "out_relu"]
    xn = normalise(x, mobilenetv2.INPUT_NORMALIZATION)
    err = assert_features_equal(ours, ref, taps, xn, 2 * x - 1)  # Keras' preprocess_input: x / 127.5 - 1
    print(f"mobilenetv2 alpha {alpha} max abs, relative error {err[0]:.2e}, {err[1]:.2e}")


def test_mobilenetv2_missing_weights_one_line(tmp_path, monkeypatch):
    model, _ = encoder_model(mobilenetv2.mobilenetv2, (32, 32, 3), alpha=0.35)
    check_missing_weights_one_line(lambda m, p: mobilenetv2.load_imagenet(m, p, alpha=0.35),
                                   "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5",
                                   tmp_path, monkeypatch, model)
    with pytest.raises(ValueError, match="alpha 0.6"):
        mobilenetv2.load_imagenet(model, None, alpha=0.6)


def head_model(inputs, x):
    """A sigmoid 1x1 head on `x` (for the compression tests of a few blocks)."""
    return keras.Model(inputs, keras.layers.Conv2D(1, 1, activation="sigmoid", name="head_conv")(x))


def test_mobilenetv2_blocks_qat_prune_int8():
    """Stem and three blocks (stride-2 padding, residual Add, dilated depthwise): every MobileNetV2 layer type.

    The converter folds the ZeroPadding2D into the strided depthwise conv (no PAD op in either file)."""
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(16, 3, strides=2, padding="same", use_bias=False, name="Conv1")(inputs)
    x = mobilenetv2._bn_relu6(x, "bn_Conv1", "Conv1_relu")
    x = mobilenetv2.inverted_res_block(x, filters=16, stride=2, expansion=6, block_id=1)
    x = mobilenetv2.inverted_res_block(x, filters=16, stride=1, expansion=6, block_id=2)
    x = mobilenetv2.inverted_res_block(x, filters=24, stride=1, expansion=6, block_id=3, dilation=2)
    check_qat_prune_int8(head_model(inputs, x), {"DEPTHWISE_CONV_2D", "ADD", "CONV_2D"})


@pytest.mark.slow
def test_mobilenetv2_encoder_qat_prune_int8():
    check_qat_prune_int8(small_head_model(mobilenetv2.mobilenetv2, alpha=0.35, output_stride=16))


# --- EfficientNet-Lite (and B1..B3) ---------------------------------------------------------------

def trainable(model) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


# TF's efficientnet-lite README: parameters with the 1000-way classifier (M).
LITE_PUBLISHED_M = {"lite0": 4.7, "lite1": 5.4, "lite2": 6.1, "lite3": 8.2, "lite4": 13.0}


@pytest.mark.parametrize("variant", ["lite0", "lite4"])
def test_efficientnet_lite_design_and_published_size(variant):
    model, f = encoder_model(effnet.efficientnet, (64, 64, 3), variant=variant, top=True)
    classifier = 1280 * 1000 + 1000
    assert round((trainable(model) + classifier) / 1e6, 1) == LITE_PUBLISHED_M[variant]
    assert model.get_layer("stem_conv").filters == 32 and model.get_layer("top_conv").filters == 1280  # fixed
    names = [layer.name for layer in model.layers]
    assert not [n for n in names if "_se_" in n] and not [l for l in model.layers if isinstance(l, keras.layers.Multiply)]
    acts = {l.get_config()["activation"] for l in model.layers if isinstance(l, keras.layers.Activation)}
    assert acts == {"relu6"}
    assert sum(n.endswith("_project_conv") for n in names) == (16 if variant == "lite0" else 30)  # 1 + ... + 1
    assert "block1b_project_conv" not in names and "block7b_project_conv" not in names  # first/last stage: 1 block
    assert effnet.variant_of(model) == variant


def test_efficientnet_lite0_features():
    _, f = encoder_model(effnet.efficientnet, (64, 64, 3), variant="lite0")
    assert {s: t.shape[1:] for s, t in f.items()} == {
        2: (32, 32, 16), 4: (16, 16, 24), 8: (8, 8, 40), 16: (4, 4, 112), 32: (2, 2, 320)}
    _, d = encoder_model(effnet.efficientnet, (64, 64, 3), variant="lite0", output_stride=8)
    assert d[32].shape[1:3] == d[8].shape[1:3] == (8, 8)


def test_efficientnet_lite_has_no_imagenet_weights_one_line(tmp_path):
    model, _ = encoder_model(effnet.efficientnet, (32, 32, 3), variant=(0.25, 0.1), lite=True)
    for variant in ("lite0", None):  # given, or recognised from the graph (no SE gates)
        with pytest.raises(ValueError, match="no ImageNet weights") as err:
            effnet.load_imagenet(model, tmp_path, variant)
        assert "\n" not in str(err.value)


def test_efficientnet_lite_blocks_qat_prune_int8():
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(16, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = keras.layers.Activation("relu6", name="stem_activation")(keras.layers.BatchNormalization(name="stem_bn")(x))
    x = effnet.mbconv(x, filters_in=16, filters_out=16, kernel_size=3, strides=1, expand_ratio=6, se_ratio=0,
                      activation="relu6", name="block2b_")
    x = effnet.mbconv(x, filters_in=16, filters_out=24, kernel_size=5, strides=2, expand_ratio=6, se_ratio=0,
                      activation="relu6", name="block3a_")
    ops = check_qat_prune_int8(head_model(inputs, x), {"DEPTHWISE_CONV_2D", "ADD", "CONV_2D"})
    assert "MUL" not in ops and "RELU6" not in ops  # ReLU6 fused into the convs, no SE gate


@pytest.mark.slow
def test_efficientnet_lite0_encoder_qat_prune_int8():
    check_qat_prune_int8(small_head_model(effnet.efficientnet, variant="lite0"))


# --- Xception --------------------------------------------------------------------------------------

def test_xception_features_and_dilation():
    model, f = encoder_model(xception.xception, (64, 64, 3), width=0.25)
    assert {s: t.shape[1:] for s, t in f.items()} == {
        2: (32, 32, 16), 4: (16, 16, 32), 8: (8, 8, 64), 16: (4, 4, 182), 32: (2, 2, 512)}
    assert {s: t.name.split("/")[0] for s, t in f.items()} == xception.TAPS
    assert sum(isinstance(l, keras.layers.SeparableConv2D) for l in model.layers) == 34
    for os_, deep in ((16, 4), (8, 8)):
        model, d = encoder_model(xception.xception, (64, 64, 3), width=0.125, output_stride=os_)
        assert d[32].shape[1] == d[16].shape[1] == deep and d[8].shape[1] == 8
        assert model.get_layer("block14_sepconv1").dilation_rate == ((2, 2) if os_ == 16 else (4, 4))


def test_xception_equals_keras_applications(tmp_path):
    shape = (96, 112, 3)
    ref = xception.keras_reference(shape)
    randomise_batchnorm(ref)
    ref.save_weights(tmp_path / xception.WEIGHTS_FILE)
    ours, _ = encoder_model(xception.xception, shape, stem_padding="valid")  # Keras' unpadded stem
    assert xception.load_imagenet(ours, tmp_path) == sum(1 for l in ref.layers if l.get_weights()) == 80
    assert ours.count_params() == ref.count_params() == 20_861_480
    x = np.random.default_rng(1).random((2, *shape), dtype=np.float32)
    adds = [l.name for l in ref.layers if isinstance(l, keras.layers.Add)]  # Keras' unnamed adds, blocks 2..13
    taps = ["block1_conv2_act", adds[0], adds[1], adds[10], "block14_sepconv2_act"]
    err = assert_features_equal(ours, ref, taps, normalise(x, xception.INPUT_NORMALIZATION), 2 * x - 1)
    print(f"xception max abs, relative error {err[0]:.2e}, {err[1]:.2e}")


def test_xception_missing_weights_one_line(tmp_path, monkeypatch):
    model, _ = encoder_model(xception.xception, (32, 32, 3), width=0.125)
    check_missing_weights_one_line(xception.load_imagenet, xception.WEIGHTS_FILE, tmp_path, monkeypatch, model)


def test_xception_blocks_qat_prune_int8():
    """Stem, an entry block (residual 1x1, separable convs, max-pool), a dilated middle block: every layer type."""
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", use_bias=False, name="block1_conv2")(inputs)
    x = keras.layers.Activation("relu", name="block1_conv2_act")(keras.layers.BatchNormalization(name="bn")(x))
    x = xception.downsample_block(x, (16, 16), 2)
    x = xception.middle_block(x, 16, 5, dilation=2)
    ops = check_qat_prune_int8(head_model(inputs, x), {"DEPTHWISE_CONV_2D", "CONV_2D", "MAX_POOL_2D", "ADD"})
    assert "RELU" in ops  # the pre-activation ReLUs (they follow an Add, nothing to fuse into)


@pytest.mark.slow
def test_xception_encoder_qat_prune_int8():
    check_qat_prune_int8(small_head_model(xception.xception, width=0.125, output_stride=16))


# --- RegNetY ---------------------------------------------------------------------------------------

TINY_REGNET = ((1, 1, 2, 1), (16, 32, 48, 64), 8)


def test_regnet_features_and_dilation():
    _, f = encoder_model(regnet.regnet, (64, 64, 3), variant="y016")
    assert {s: t.shape[1:] for s, t in f.items()} == {
        2: (32, 32, 32), 4: (16, 16, 48), 8: (8, 8, 120), 16: (4, 4, 336), 32: (2, 2, 888)}
    assert f[32].name.split("/")[0] == "regnety016_Stage_3_YBlock_1_exit_relu"
    for os_, deep in ((16, 4), (8, 8)):
        model, d = encoder_model(regnet.regnet, (64, 64, 3), variant=TINY_REGNET, output_stride=os_)
        assert d[32].shape[1] == d[16].shape[1] == deep and d[4].shape[1] == 16
        assert model.get_layer("regnet_Stage_3_YBlock_0_conv_3x3").dilation_rate == ((1, 1) if os_ == 16 else (2, 2))
        assert model.get_layer("regnet_Stage_3_YBlock_0_skip_1x1").strides == (1, 1)


@pytest.mark.parametrize("variant", ["y008", "y016"])
def test_regnet_equals_keras_applications(variant, tmp_path):
    shape = (64, 96, 3)
    prestem = [l for l in regnet.keras_reference(variant, shape).layers if not l.get_weights()][1]
    assert isinstance(prestem, keras.layers.Rescaling) and (prestem.scale, prestem.offset) == (1 / 255, 0.0)
    # Compared without that Rescaling: x * 255 / 255 differs from x by float rounding, which 20 blocks of random
    # weights amplify to 3e-3 of the deepest map's range (measured; the same happens to Keras' model alone).
    ref = regnet.keras_reference(variant, shape, include_preprocessing=False)
    randomise_batchnorm(ref)
    ref.save_weights(tmp_path / regnet.weights_filename(variant))
    ours, _ = encoder_model(regnet.regnet, shape, variant=variant)
    assert regnet.load_imagenet(ours, tmp_path, variant=variant) == sum(1 for l in ref.layers if l.get_weights())
    assert ours.count_params() == ref.count_params()
    assert not [l for l in ours.layers if isinstance(l, (keras.layers.Rescaling, keras.layers.Normalization))]
    depths = regnet.VARIANTS[variant][0]
    taps = [f"regnet{variant}_stem_relu"] + [f"regnet{variant}_Stage_{i}_YBlock_{d - 1}_exit_relu"
                                             for i, d in enumerate(depths)]
    x = np.random.default_rng(1).random((2, *shape), dtype=np.float32)
    err = assert_features_equal(ours, ref, taps, normalise(x, regnet.INPUT_NORMALIZATION), x)
    print(f"regnet{variant} max abs, relative error {err[0]:.2e}, {err[1]:.2e}, params {ours.count_params()}")


def test_regnet_missing_weights_one_line(tmp_path, monkeypatch):
    model, _ = encoder_model(regnet.regnet, (32, 32, 3), variant="y008")
    check_missing_weights_one_line(lambda m, p: regnet.load_imagenet(m, p, variant="y008"), "regnety008_notop.h5",
                                   tmp_path, monkeypatch, model)


def test_regnet_blocks_qat_prune_int8():
    """Stem, a strided Y block (grouped 3x3, SE Multiply, projection skip) and a dilated one."""
    inputs = keras.Input((32, 32, 3))
    x = regnet._conv(inputs, 16, 3, "stem_conv", strides=2)
    x = keras.layers.ReLU(name="stem_relu")(regnet._bn(x, "stem_bn"))
    x = regnet.y_block(x, 32, 8, stride=2, name="s0_b0")
    x = regnet.y_block(x, 32, 8, dilation=2, name="s0_b1")
    ops = check_qat_prune_int8(head_model(inputs, x), {"CONV_2D", "MUL", "MEAN", "ADD", "LOGISTIC"})
    assert "DEPTHWISE_CONV_2D" not in ops  # groups of 8 channels stay one grouped CONV_2D


@pytest.mark.slow
def test_regnet_encoder_qat_prune_int8():
    check_qat_prune_int8(small_head_model(regnet.regnet, variant=TINY_REGNET, output_stride=16))
