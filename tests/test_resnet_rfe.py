"""Paper 004: ResNet encoders (equal to keras.applications with the same weights), SPPF / C2f / RFE blocks,
`resnet_rfe_unet` at 34/50/101 (parameters, multiply-accumulates beside the paper's), ImageNet loading
offline, QAT + pruning + INT8, the 2-channel softmax head, and a few training steps on Kvasir-SEG."""
import numpy as np
import pytest
import tf_keras as keras

import zoo
from conftest import shared_dataset
from zoo.training import data
from zoo.models.complexity import count_macs, layer_macs
from zoo.models.encoders import resnet as R
from zoo.models.pretrained import WeightsNotFound
from zoo.models.quantization import quantize_model
from zoo.models.rfe_unet import PAPER_GMACS, c2f, sppf
from test_pretrained import offline

TINY = dict(zoo.get_model_entry("resnet_rfe_unet").small)  # the registry's tiny variant of the same graph

# Encoder parameters (BatchNorm statistics included). 50/101: keras.applications' no-top counts
# (paper 004). 18/34: torchvision's trainable counts without the fc layer (11,689,512 and
# 21,797,672 minus 513,000), plus 2 statistics per BatchNorm channel.
ENCODER_PARAMS = {50: 23_587_712, 101: 42_658_176}
ENCODER_TRAINABLE = {18: 11_176_512, 34: 21_284_672}

# Whole model at 256x256x3, our default design (sigmoid head). The paper gives no parameter counts.
MODEL_PARAMS = {34: 25_565_953, 50: 89_401_601, 101: 108_472_065}
# Our multiply-accumulates at 256x256 (convolutions; paper Table 7: 9.046, 39.701, 44.576 G) and the
# encoders' share, which matches an independent count (4.785, 5.036, 9.885 G).
MODEL_GMACS = {34: 9.258, 50: 36.210, 101: 41.059}
ENCODER_GMACS = {34: 4.785, 50: 5.036, 101: 9.885}


def _encoder(depth, shape=(64, 64, 3), **kw):
    inp = keras.Input(shape)
    feats = R.resnet(inp, depth=depth, **kw)
    return keras.Model(inp, [feats[s] for s in sorted(feats)], name=f"resnet{depth}")


def _randomise(model, seed=0):
    """Random weights everywhere, BatchNorm statistics included (so a mismatch in any of them shows)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if isinstance(layer, keras.layers.BatchNormalization):
            g, b, m, v = weights
            layer.set_weights([rng.uniform(0.5, 1.5, g.shape), rng.normal(0, 0.1, b.shape),
                               rng.normal(0, 0.1, m.shape), rng.uniform(0.5, 1.5, v.shape)])
        elif weights:
            layer.set_weights([rng.normal(0, np.sqrt(2 / np.prod(w.shape[:-1])) if w.ndim > 1 else 0.1, w.shape)
                               for w in weights])


def _normalise(x):
    """The data pipeline's input for the ResNet encoders: RGB, (x - mean) / std."""
    n = R.INPUT_NORMALIZATION
    return ((x - np.array(n["mean"])) / np.array(n["std"])).astype(np.float32)


@pytest.mark.parametrize("depth", [18, 34])  # 50 and 101: in the equivalence tests
def test_encoder_parameters_and_feature_strides(depth):
    model = _encoder(depth)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == ENCODER_TRAINABLE[depth]
    assert [tuple(o.shape[1:]) for o in model.outputs] == [(32, 32, 64), (16, 16, 64), (8, 8, 128), (4, 4, 256), (2, 2, 512)]


def test_dilated_encoder_keeps_output_stride():
    model = _encoder(18, output_stride=8)
    assert [tuple(o.shape[1:3]) for o in model.outputs] == [(32, 32), (16, 16), (8, 8), (8, 8), (8, 8)]
    assert model.get_layer("conv5_block1_2_conv").dilation_rate == (4, 4)
    assert [tuple(o.shape[-1:]) for o in model.outputs] == [(64,), (64,), (128,), (256,), (512,)]


def _check_equal_to_keras(depth, shape=(64, 64, 3)):
    ours = _encoder(depth, shape)
    assert ours.count_params() == ENCODER_PARAMS[depth]
    ref = R.keras_reference(depth, shape)
    _randomise(ref)
    assert R.copy_from_keras(ours, ref) == len([l for l in ref.layers if l.get_weights()])
    x = np.random.default_rng(1).random((2, *shape), dtype=np.float32)  # RGB in [0, 1]
    caffe = keras.applications.resnet.preprocess_input(x * 255.0)  # what the Keras weights expect: BGR, 0-255 - mean
    n_blocks = R.DEPTHS[depth][1]
    taps = ["conv1_relu"] + [f"conv{s}_block{n}_out" for s, n in zip(range(2, 6), n_blocks)]
    ref_feats = keras.Model(ref.input, [ref.get_layer(t).output for t in taps]).predict(caffe, verbose=0)
    for tap, a, b in zip(taps, ours.predict(_normalise(x), verbose=0), ref_feats):
        # Relative to the map's largest value: caffe inputs are 0-255, so random-weight features reach 1e6.
        assert np.abs(a - b).max() <= 1e-5 * np.abs(b).max(), tap


def test_resnet50_features_equal_keras_applications():
    _check_equal_to_keras(50)


@pytest.mark.slow
def test_resnet101_features_equal_keras_applications():
    _check_equal_to_keras(101)


def test_imagenet_loading_offline_errors_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "empty"))
    offline(monkeypatch)
    with pytest.raises(WeightsNotFound, match="resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5") as e:
        zoo.build_model("resnet_rfe_unet", depth=50, input_shape=(32, 32, 3), encoder_weights="imagenet")
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="no ImageNet weights") as e:
        zoo.build_model("resnet_rfe_unet", depth=34, input_shape=(32, 32, 3), encoder_weights="imagenet")
    assert "\n" not in str(e.value)
    with pytest.raises(WeightsNotFound, match="missing.h5"):
        zoo.build_model("resnet_rfe_unet", depth=101, input_shape=(32, 32, 3), encoder_weights=tmp_path / "missing.h5")


@pytest.mark.slow
def test_imagenet_file_loads_by_name_with_rgb_first_conv(tmp_path):
    ref = R.keras_reference(50, (64, 64, 3))
    _randomise(ref, seed=3)
    ref.save_weights(tmp_path / R.weights_filename(50))
    model = zoo.build_model("resnet_rfe_unet", depth=50, input_shape=(64, 64, 3), encoder_weights=tmp_path)
    ours, theirs = model.get_layer("conv1_conv").get_weights()[0], ref.get_layer("conv1_conv").get_weights()[0]
    np.testing.assert_array_equal(ours, theirs[:, :, ::-1, :])
    np.testing.assert_array_equal(model.get_layer("conv4_block6_3_conv").get_weights()[0],
                                  ref.get_layer("conv4_block6_3_conv").get_weights()[0])


def test_sppf_and_c2f_shapes_and_parameters():
    # Spec 004 section 2.3 (YOLOv8's formulas): SPPF 256->256 = 165,376; C2f 768->256 (n=1) = 592,896.
    inp = keras.Input((16, 16, 256))
    s = keras.Model(inp, sppf(inp, 256, name="s"))
    assert s.output_shape == (None, 16, 16, 256) and s.count_params() == 165_376
    inp = keras.Input((16, 16, 768))
    c = keras.Model(inp, c2f(inp, 256, n=1, name="c"))
    assert c.output_shape == (None, 16, 16, 256) and c.count_params() == 592_896
    names = {l.name for l in c.layers}
    assert {"c_cv1a_conv", "c_cv1b_conv", "c_m0_cv1_conv", "c_m0_cv2_conv", "c_cv2_swish"} <= names


@pytest.mark.parametrize("depth", [34, 50, 101])
def test_parameters_and_macs_at_256_beside_the_paper(depth):
    model = zoo.build_model("resnet_rfe_unet", depth=depth, input_shape=(256, 256, 3))
    assert model.count_params() == MODEL_PARAMS[depth]
    macs = count_macs(model)
    encoder = sum(layer_macs(l) for l in model.layers if l.name.startswith(("conv1_", "conv2_", "conv3_", "conv4_", "conv5_")))
    assert round(macs / 1e9, 3) == MODEL_GMACS[depth]
    assert round(encoder / 1e9, 3) == ENCODER_GMACS[depth]
    assert abs(macs / (PAPER_GMACS[depth] * 1e9) - 1) < 0.10  # -8 % (R101, R50), +2 % (R34)
    assert zoo.get_model_info("resnet_rfe_unet")["macs_by_depth"][depth] == PAPER_GMACS[depth] * 1e9
    if depth == 101:
        assert "conv4_block23_out" in {l.name for l in model.layers}


def test_registry_info_and_builder_options():
    info = zoo.get_model_info("resnet_rfe_unet")
    assert info["input_normalization"] == R.INPUT_NORMALIZATION and info["macs"] == 44.576e9
    base = zoo.build_model("resnet_rfe_unet", input_shape=(32, 32, 3), **TINY)
    names = {l.name for l in base.layers}
    assert {"rfe16_sppf_a_cv1_conv", "rfe16_sppf_b_cv2_conv", "rfe16_c2f_cv2_conv", "dec1_up", "head_sigmoid"} <= names
    assert "rfe8_sppf_a_cv1_conv" not in names
    plain = zoo.build_model("resnet_rfe_unet", input_shape=(32, 32, 3), **{**TINY, "rfe_levels": ()})
    assert not [l for l in plain.layers if l.name.startswith("rfe")]
    up = zoo.build_model("resnet_rfe_unet", input_shape=(32, 32, 3), **{**TINY, "rfe_alignment": "up"})
    assert "skip16_up" in {l.name for l in up.layers} and "dec16_concat" not in {l.name for l in up.layers}
    for bad, match in [({"depth": 42}, "depth must be one of"), ({"rfe_levels": (32,)}, "rfe_levels"),
                       ({"rfe_alignment": "down"}, "rfe_alignment"), ({"head": "relu"}, "head must be"),
                       ({"encoder_weights": "imagenet"}, "width=1.0"), ({"input_shape": (48, 64, 3)}, "use 64")]:
        with pytest.raises(ValueError, match=match):
            zoo.build_model("resnet_rfe_unet", **{"input_shape": (32, 32, 3), **TINY, **bad})


def test_two_channel_softmax_head():
    model = zoo.build_model("resnet_rfe_unet", input_shape=(32, 32, 3), head="softmax", **TINY)
    y = model(np.random.default_rng(0).random((2, 32, 32, 3), dtype=np.float32), training=False).numpy()
    assert y.shape == (2, 32, 32, 2) and model.layers[-1].name == "head_softmax"
    np.testing.assert_allclose(y.sum(-1), 1.0, atol=1e-5)


def test_prune_preserving_qat_keeps_transposed_conv_zeros():
    """tfmot's prune-preserving scheme has no Conv2DTranspose entry; zoo.models.quantization's config covers it."""
    import tensorflow_model_optimization as tfmot

    model = zoo.build_model("resnet_rfe_unet", input_shape=(32, 32, 3), **{**TINY, "rfe_levels": ()})
    layer = model.get_layer("dec1_up")
    kernel, bias = layer.get_weights()
    kernel[..., ::2, :] = 0.0  # half the kernel "pruned"
    layer.set_weights([kernel, bias])
    qat = quantize_model(model, tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme())
    x = np.random.default_rng(0).random((1, 32, 32, 3), dtype=np.float32)
    assert qat(x).shape == (1, 32, 32, 1)
    weight, quantizer, variables = qat.get_layer("quant_dec1_up")._weight_vars[0]
    weight.assign_add(np.full(kernel.shape, 0.05, np.float32))  # as a QAT update would move the zeros
    fake_quantized = quantizer(weight, training=False, weights=variables).numpy()
    assert (fake_quantized[..., ::2, :] == 0).all() and (fake_quantized[..., 1::2, :] != 0).mean() > 0.9


@pytest.mark.slow  # the default run QAT-trains and prunes the ResNet-18 variant in test_models
def test_bottleneck_model_qat_and_prune():
    import tensorflow_model_optimization as tfmot

    model = zoo.build_model("resnet_rfe_unet", depth=50, input_shape=(32, 32, 3), width=0.125, rfe_levels=(4,),
                            rfe_alignment="up")
    x = np.random.default_rng(0).random((1, 32, 32, 3), dtype=np.float32)
    assert quantize_model(model)(x).shape == tfmot.sparsity.keras.prune_low_magnitude(model)(x).shape == (1, 32, 32, 1)


@pytest.mark.slow
@pytest.mark.parametrize("depth", [34, 50])
def test_pruned_qat_full_int8_runs_in_litert(depth):
    """Full width: prune 50 %, strip, QAT preserving the zeros, full-INT8 convert, run in LiteRT."""
    import tensorflow_model_optimization as tfmot
    from deploy import convert

    model = zoo.build_model("resnet_rfe_unet", depth=depth, input_shape=(32, 32, 3))
    pruned = tfmot.sparsity.keras.prune_low_magnitude(
        model, pruning_schedule=tfmot.sparsity.keras.ConstantSparsity(0.5, 0))
    pruned.compile("adam", "binary_crossentropy")
    x = np.random.default_rng(0).random((4, 32, 32, 3), dtype=np.float32)
    y = (x[..., :1] > 0.5).astype(np.float32)
    pruned.fit(x, y, batch_size=1, epochs=1, verbose=0, callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
    stripped = tfmot.sparsity.keras.strip_pruning(pruned)
    qat = quantize_model(stripped, tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme())
    lite = convert.LiteRTModel(convert.to_tflite(qat, "qat", [x[i:i + 1] for i in range(4)]))
    assert lite.input["dtype"] == np.int8 and lite.output["dtype"] == np.int8
    out = lite.predict(x)
    assert out.shape == (4, 32, 32, 1) and np.isfinite(out).all()


def test_training_steps_on_kvasir_lower_the_loss():
    root = shared_dataset("kvasir_seg")
    pairs = data.find_pairs(root)[:8]
    images, masks = data.load_arrays(pairs, data.DataConfig(image_size=(64, 64)))
    keras.utils.set_random_seed(0)
    model = zoo.build_model("resnet_rfe_unet", input_shape=(64, 64, 3), **TINY)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="binary_crossentropy")
    history = model.fit(_normalise(images), masks, batch_size=4, epochs=8, shuffle=False, verbose=0).history["loss"]
    assert np.isfinite(history).all()
    assert np.mean(history[-3:]) < 0.85 * np.mean(history[:2]), history
