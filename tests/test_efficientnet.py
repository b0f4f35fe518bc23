"""Paper 003: the flat EfficientNet encoder equals keras.applications' (same weights, ImageNet input
scaling), ImageNet weights load by name from a file, EfficientUNet++ and UNet++ match the paper's
parameter counts, squeeze-excite survives pruning + QAT + full INT8, and the models learn on CVC-ClinicDB."""
import numpy as np
import pytest
import tensorflow_model_optimization as tfmot
import tf_keras as keras

import zoo
from conftest import shared_dataset
from deploy import convert
from zoo.training import data
from zoo.models.encoders import efficientnet as effnet
from zoo.models.pretrained import WeightsNotFound
from zoo.models.quantization import quantize_model
from zoo.models.unetpp import nested_decoder
from test_pretrained import offline

MEAN = np.array(effnet.INPUT_NORMALIZATION["mean"], np.float32)
STD = np.array(effnet.INPUT_NORMALIZATION["std"], np.float32)
STAGE_OUTPUTS = {2: "block1a_project_bn", 4: "block2b_add", 8: "block3b_add", 16: "block5c_add",
                 32: "block7a_project_bn"}
TINY = dict(zoo.get_model_entry("efficientunetpp").small)  # the registry's tiny variant of the same graph


def trainable(model) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def randomise(model, seed=0, convs=True):
    """Random BatchNorm parameters and statistics (so no BN is an identity); new random conv weights if `convs`."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.get_weights()[0].shape
            layer.set_weights([rng.uniform(0.5, 1.5, n), rng.normal(0, 0.1, n), rng.normal(0, 0.1, n),
                               rng.uniform(0.5, 1.5, n)])
        elif convs and isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
            layer.set_weights([rng.normal(0, 0.2, w.shape) for w in layer.get_weights()])


# --- parameter counts -------------------------------------------------------------------------

def test_parameter_counts_match_documentation_and_paper():
    eupp = zoo.build_model("efficientunetpp", input_shape=(64, 64, 3))
    assert trainable(eupp) == 6_603_213  # documented in zoo/models/unetpp.py and README
    assert abs(trainable(eupp) / zoo.get_model_info("efficientunetpp")["params"] - 1) < 0.05
    upp = zoo.build_model("unetpp", input_shape=(64, 64, 3))
    assert trainable(upp) == 5_089_969
    assert abs(trainable(upp) / zoo.get_model_info("unetpp")["params"] - 1) < 0.05
    # Our UNet++ graph reproduces the official Keras UNet++ exactly (paper 003: 9,041,601).
    official = zoo.build_model("unetpp", input_shape=(64, 64, 1), filters=32, batch_norm=False)
    assert official.count_params() == 9_041_601
    assert zoo.get_model_info("efficientunetpp")["input_normalization"] == effnet.INPUT_NORMALIZATION


def test_encoder_parameters_equal_keras_b0():
    inputs = keras.Input((32, 32, 3))
    ours = keras.Model(inputs, effnet.efficientnet(inputs, top=True)[32])
    reference = effnet.reference_model("b0", input_shape=(32, 32, 3))
    assert trainable(ours) == trainable(reference) == 4_007_548
    assert not [l for l in ours.layers if isinstance(l, (keras.layers.Rescaling, keras.layers.Normalization))]


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["b1", "b2", "b3"])
def test_larger_variants_equal_keras(variant):
    inputs = keras.Input((32, 32, 3))
    ours = keras.Model(inputs, effnet.efficientnet(inputs, variant=variant, top=True)[32])
    assert trainable(ours) == trainable(effnet.reference_model(variant, input_shape=(32, 32, 3)))


# --- the encoder equals keras.applications ---------------------------------------------------

def test_encoder_equals_keras_applications_on_same_weights():
    reference = effnet.reference_model("b0", input_shape=(32, 32, 3))
    randomise(reference, convs=False)  # Keras' random initial convs keep activations O(1): 1e-5 is then tight
    norm = next(l for l in reference.layers if isinstance(l, keras.layers.Normalization))
    # With ImageNet weights Keras computes (x/255 - mean) / sqrt(v) / sqrt(std) with the file's v = std
    # (tensorflow#49930), i.e. (x/255 - mean) / std; here the layer is given that directly (v = std**2).
    v = STD  # the variance the weights file stores
    x01 = np.random.default_rng(1).random((2, 32, 32, 3), dtype=np.float32)
    np.testing.assert_allclose((x01 - MEAN) / np.sqrt(v) / np.sqrt(STD), (x01 - MEAN) / STD, rtol=1e-6)
    mean_w, var_w, count = norm.get_weights()
    norm.set_weights([MEAN.reshape(mean_w.shape), (STD ** 2).reshape(var_w.shape), count])

    inputs = keras.Input((32, 32, 3))
    features = effnet.efficientnet(inputs, top=True)
    ours = keras.Model(inputs, features)
    assert effnet.copy_weights(ours, reference, lambda n: None if n == norm.name else n) == 130
    taps = {**STAGE_OUTPUTS, 32: "top_activation", 64: "block7a_project_bn"}
    ours_out = keras.Model(inputs, [features[s] for s in (2, 4, 8, 16, 32)] + [ours.get_layer(taps[64]).output])
    ref_out = keras.Model(reference.input, [reference.get_layer(taps[s]).output for s in (2, 4, 8, 16, 32, 64)])
    got = ours_out((x01 - MEAN) / STD, training=False)
    want = ref_out(x01 * 255.0, training=False)
    for stride, a, b in zip((2, 4, 8, 16, 32, 64), got, want):
        assert a.shape == b.shape, stride
        assert np.abs(a.numpy() - b.numpy()).max() < 1e-5, (stride, np.abs(a.numpy() - b.numpy()).max())


def test_features_by_stride_and_dilation():
    inputs = keras.Input((64, 64, 3))
    features = effnet.efficientnet(inputs)
    assert {s: f.shape[1:] for s, f in features.items()} == {
        2: (32, 32, 16), 4: (16, 16, 24), 8: (8, 8, 40), 16: (4, 4, 112), 32: (2, 2, 320)}
    assert {s: f.name.split("/")[0] for s, f in features.items()} == STAGE_OUTPUTS
    dilated = effnet.efficientnet(keras.Input((64, 64, 3)), output_stride=16)
    assert dilated[32].shape[1:3] == dilated[16].shape[1:3] == (4, 4)
    # The nested decoder takes the repeated stride (no upsampling between equal resolutions).
    top_row = nested_decoder(dilated, (8, 8, 8, 8))
    assert top_row[-1].shape[1:] == (32, 32, 8)
    with pytest.raises(ValueError, match="variant"):
        effnet.efficientnet(keras.Input((64, 64, 3)), variant="b9")


# --- ImageNet weights from a file ------------------------------------------------------------

def _fake_weights_file(folder):
    """A file laid out like Keras' efficientnetb0_notop.h5 (random weights, the file's input statistics)."""
    reference = effnet.reference_model("b0", input_shape=(32, 32, 3))
    randomise(reference, seed=3)
    norm = next(l for l in reference.layers if isinstance(l, keras.layers.Normalization))
    mean_w, var_w, count = norm.get_weights()
    norm.set_weights([MEAN.reshape(mean_w.shape), STD.reshape(var_w.shape), count])  # as Keras' file stores them
    path = folder / effnet.weights_filename("b0")
    reference.save_weights(str(path))
    return reference, path


def test_load_imagenet_copies_every_encoder_layer_by_name(tmp_path, monkeypatch):
    reference, path = _fake_weights_file(tmp_path)
    model = zoo.build_model("efficientunetpp", input_shape=(32, 32, 3), encoder_weights=tmp_path)
    copied = 0
    for layer in reference.layers:
        if layer.get_weights() and layer.name not in ("top_conv", "top_bn") and "normalization" not in layer.name:
            for a, b in zip(model.get_layer(layer.name).get_weights(), layer.get_weights()):
                np.testing.assert_array_equal(a, b)
            copied += 1
    assert copied == 128 == effnet.load_imagenet(model, path)

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "empty"))
    offline(monkeypatch)
    with pytest.raises(WeightsNotFound, match=r"efficientnetb0_notop\.h5.*storage\.googleapis\.com") as err:
        zoo.build_model("efficientunetpp", input_shape=(32, 32, 3), encoder_weights="imagenet")
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="3 input channels"):
        zoo.build_model("efficientunetpp", input_shape=(32, 32, 1), encoder_weights=path)
    # A file whose input statistics differ from what the data pipeline feeds is refused.
    monkeypatch.setattr(effnet, "INPUT_NORMALIZATION", {"mean": tuple(MEAN), "std": tuple(STD ** 2)})
    with pytest.raises(ValueError, match="differ from INPUT_NORMALIZATION"):
        effnet.load_imagenet(model, path)


# --- UNet++ options ----------------------------------------------------------------------------

def test_unetpp_dense_versus_nested_and_deep_supervision():
    names = {l.name for l in zoo.build_model("unetpp", input_shape=(32, 32, 3), depth=2, filters=4).layers}
    assert {"x0_1_concat", "x0_2_concat", "x0_2_up", "head_conv"} <= names
    dense = zoo.build_model("unetpp", input_shape=(32, 32, 3), depth=2, filters=4)
    # X^{0,2} sees X^{0,0}, X^{0,1} and the upsampled X^{1,1} (dense); EfficientUNet++'s X^{0,2} only two inputs.
    assert len(dense.get_layer("x0_2_concat").input) == 3
    eupp = zoo.build_model("efficientunetpp", input_shape=(32, 32, 3), **TINY)
    assert len(eupp.get_layer("x0_2_concat").input) == 2 and len(eupp.get_layer("x0_4_concat").input) == 2

    ds = zoo.build_model("unetpp", input_shape=(32, 32, 3), depth=2, filters=4, deep_supervision=True)
    assert ds.output_shape == (None, 32, 32, 1) and ds.layers[-1].name == "head_average"
    x = np.random.default_rng(0).random((2, 32, 32, 3), dtype=np.float32)
    heads = keras.Model(ds.input, [ds.get_layer(f"head{j}_sigmoid").output for j in (1, 2)])(x)
    np.testing.assert_allclose(ds(x).numpy(), (heads[0].numpy() + heads[1].numpy()) / 2, atol=1e-6)
    ds.compile(optimizer="adam", loss="binary_crossentropy")
    assert np.isfinite(ds.train_on_batch(x, (x[..., :1] > 0.5).astype(np.float32)))
    assert quantize_model(ds)(x).shape == (2, 32, 32, 1)  # Average has a QuantizeConfig
    separate = zoo.build_model("unetpp", input_shape=(32, 32, 3), depth=2, filters=4, deep_supervision="separate")
    assert len(separate.outputs) == 2
    with pytest.raises(ValueError, match="use 64"):
        zoo.build_model("efficientunetpp", input_shape=(48, 64, 3))


# --- compression: prune + QAT + full INT8 ------------------------------------------------------

def _prune_qat_int8(model, x):
    """Magnitude-prune to 50 %, strip, QAT that keeps the zeros, convert to full INT8; returns (file, QAT model)."""
    sparsity = tfmot.sparsity.keras
    pruned = sparsity.prune_low_magnitude(model, pruning_schedule=sparsity.ConstantSparsity(0.5, 0, frequency=1))
    pruned.compile(optimizer="adam", loss="binary_crossentropy")
    labels = np.random.default_rng(1).random((len(x), *model.output_shape[1:])) > 0.5
    pruned.fit(x, labels.astype(np.float32), epochs=2, batch_size=len(x), verbose=0,
               callbacks=[sparsity.UpdatePruningStep()])
    stripped = sparsity.strip_pruning(pruned)
    qat = quantize_model(stripped, tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme())
    return convert.to_tflite(qat, "qat", [x[i:i + 1] for i in range(len(x))]), qat, stripped


def test_squeeze_excite_block_prunes_quantizes_and_runs_int8():
    """Two MBConv blocks (SE gate, swish, depthwise, residual): the default-run version of the slow test below.

    LiteRT runs with its default XNNPACK delegate, which crashed on a fused-swish SE conv (kept as a regression).
    """
    inputs = keras.Input((16, 16, 3), name="image")
    x = keras.layers.Conv2D(16, 3, padding="same", name="stem_conv")(inputs)
    x = effnet.mbconv(x, filters_in=16, filters_out=16, kernel_size=3, strides=1, expand_ratio=6, name="block2b_")
    x = effnet.mbconv(x, filters_in=16, filters_out=24, kernel_size=5, strides=2, expand_ratio=6, name="block3a_")
    model = keras.Model(inputs, keras.layers.Conv2D(1, 1, activation="sigmoid", name="head_conv")(x))
    images = np.random.default_rng(0).random((4, 16, 16, 3), dtype=np.float32)
    blob, qat, stripped = _prune_qat_int8(model, images)
    kernel = stripped.get_layer("block2b_expand_conv").kernel.numpy()
    assert abs((kernel == 0).mean() - 0.5) < 0.02
    ops = [op["op"] for op in convert.list_ops(blob)]
    assert {"MUL", "DEPTHWISE_CONV_2D", "MEAN", "LOGISTIC", "ADD"} <= set(ops)
    assert "DEQUANTIZE" not in ops and "QUANTIZE" not in ops
    lite = convert.LiteRTModel(blob)
    assert np.abs(lite.predict(images) - qat(images).numpy()).max() < 0.1


@pytest.mark.slow
def test_efficientunetpp_prunes_quantizes_and_runs_int8():
    model = zoo.build_model("efficientunetpp", input_shape=(32, 32, 3))
    images = np.random.default_rng(0).random((3, 32, 32, 3), dtype=np.float32)
    blob, qat, _ = _prune_qat_int8(model, images)
    ops = [op["op"] for op in convert.list_ops(blob)]
    assert ops.count("MUL") >= 16 and "DEPTHWISE_CONV_2D" in ops and "DEQUANTIZE" not in ops
    y = convert.LiteRTModel(blob).predict(images)
    assert y.shape == (3, 32, 32, 1) and np.isfinite(y).all()


# --- learning on real images ---------------------------------------------------------------------

def _cvc(n, size):
    root = shared_dataset("cvc_clinicdb")
    pairs = data.find_pairs(root)[:n]
    images, masks = data.load_arrays(pairs, data.DataConfig(image_size=(size, size)))
    return ((images - MEAN) / STD).astype(np.float32), masks.astype(np.float32)


def _losses(model, x, y, steps, lr=1e-3):
    model.compile(optimizer=keras.optimizers.Adam(lr), loss="binary_crossentropy")
    return [float(model.train_on_batch(x, y)) for _ in range(steps)]


def test_efficientunetpp_loss_falls_on_cvc_clinicdb():
    x, y = _cvc(4, 64)
    assert 0.01 < y.mean() < 0.5  # polyps: some foreground in every batch
    losses = _losses(zoo.build_model("efficientunetpp", input_shape=(64, 64, 3)), x, y, steps=6)
    assert losses[-1] < 0.8 * losses[0], losses


@pytest.mark.slow
@pytest.mark.parametrize("name", ["efficientunetpp", "unetpp"])
def test_loss_falls_on_cvc_clinicdb_longer(name):
    x, y = _cvc(16, 128)
    losses = _losses(zoo.build_model(name, input_shape=(128, 128, 3)), x, y, steps=30)
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5]), losses
