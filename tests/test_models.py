"""Every paper's named model: shapes, parameter counts against paper 002, layer names, save/load,
one training step, and that tfmot can prune and quantize it (the reason every model is one flat
graph of built-in layers); the registry's names, kinds and metadata. Registry-wide tests build each
model's tiny variant (its entry's `small` arguments: the same layer types, fewer blocks and channels);
each model's own test file checks it at full size, and tests/test_matrix.py the encoder x decoder pairs."""
import re

import numpy as np
import pytest
import tf_keras as keras

import zoo
from zoo.models.quantization import quantize_model
from zoo.models.complexity import count_flops
from zoo.models import registry

MODELS = zoo.list_models(pairs=False)
PAPER_MODELS = ["unet", "half_unet", "multiresunet", "half_multiresunet", "quarter_multiresunet"]

# Our counts at 512x512x3 (all weights, BatchNorm statistics included), documented in README "Models".
EXPECTED_PARAMS = {
    "unet": 22_355_029,
    "half_unet": 1_764_993,
    "multiresunet": 13_392_221,
    "half_multiresunet": 216_827,
    "quarter_multiresunet": 44_771,
}
# Maximum relative difference from paper 002's Table 4 that we accept per model.
PAPER_TOLERANCE = {"unet": 0.03, "half_unet": 0.03, "multiresunet": 0.03,
                   "half_multiresunet": 0.05, "quarter_multiresunet": 0.05}
AUTO_NAME = re.compile(r"^(conv2d|batch_normalization|activation|max_pooling2d|up_sampling2d|concatenate|add)(_\d+)?$")


def test_registry_has_the_paper_models():
    assert set(PAPER_MODELS) <= set(MODELS)


def test_unknown_model_suggests_close_name():
    with pytest.raises(KeyError, match="half_multiresunet"):
        zoo.build_model("half_multiresunt")


def test_duplicate_registration_raises():
    def unet(**kw):
        return None

    with pytest.raises(ValueError, match="already registered"):
        zoo.register_model(unet)
    with pytest.raises(ValueError, match="'unet_resnet34' is already registered"):  # a pair's name is taken too
        zoo.register_model(unet, name="unet_resnet34")


def test_one_registry_of_paper_models_and_pairs():
    from zoo.models import decoders
    from zoo.models.encoders import catalog

    papers, pairs = zoo.list_models(pairs=False), zoo.list_models(papers=False)
    assert zoo.list_models() == sorted(papers + pairs) and not set(papers) & set(pairs)
    assert len(pairs) == len(catalog.ENCODERS) * len(decoders.DECODERS)
    for name in pairs:
        entry = zoo.get_model_entry(name)
        assert name == f"{entry.decoder}_{entry.encoder}" and entry.kind == "pair"
        assert entry.input_normalization == catalog.ENCODERS[entry.encoder].input_normalization
        assert entry.small == {"encoder_args": catalog.ENCODERS[entry.encoder].small,
                               "decoder_args": decoders.DECODERS[entry.decoder].small}
        assert entry.takes_encoder_weights and not entry.paper
    # `unet` is paper 002's U-Net; the U-Net decoder on an encoder is a pair with its own name.
    unet = zoo.get_model_entry("unet")
    assert (unet.kind, unet.encoder, unet.decoder, unet.input_normalization) == ("paper", None, None, None)
    assert {"unet", "unet_mobilenetv3", "unet_resnet34", "unet_efficientnet_b0"} <= set(zoo.list_models("unet*"))
    assert "unetpp_resnet34" not in zoo.list_models("unet_*") and "fpn_mobilenetv3_small" in zoo.list_models("fpn_*")
    assert registry.resolve_model_name("unet", "resnet34") == "unet_resnet34"
    assert registry.resolve_model_name("unet") == "unet"
    with pytest.raises(KeyError, match="unknown encoder 'resnet43'. Did you mean 'resnet34'"):
        registry.resolve_model_name("unet", "resnet43")
    assert zoo.list_models("unet_resnet3*", pairs=False) == []
    assert zoo.list_models("unet*", papers=False)[0] == "unet_efficientnet_b0"


def test_entries_carry_their_metadata():
    for name in MODELS:
        entry = zoo.get_model_entry(name)
        assert entry.paper["source"].startswith("paper 00") and entry.paper["input_shape"][-1] == 3, name
        assert set(entry.small) <= set(entry.signature.parameters) or "kw" in entry.signature.parameters, name
        assert entry.takes_encoder_weights == (entry.encoder is not None) == (entry.input_normalization is not None)
        info = zoo.get_model_info(name)
        assert info["kind"] == "paper" and info.items() >= entry.paper.items()
    assert {n for n in MODELS if zoo.get_model_entry(n).stages} == set(PAPER_MODELS)


def test_unknown_model_error_is_one_line():
    with pytest.raises(registry.UnknownModelError) as err:
        zoo.get_model_entry("unet_resnet43")
    message = str(err.value)
    assert "\n" not in message and message.startswith("unknown model 'unet_resnet43'. Did you mean 'unet_resnet34'")
    assert "half_multiresunet" in message and "pairs <decoder>_<encoder>" in message


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("shape", [(64, 64, 3), (32, 96, 1)])
def test_forward_shapes(name, shape):
    model = zoo.get_model_entry(name).build_small(input_shape=shape)
    x = np.random.default_rng(0).random((2, *shape), dtype=np.float32)
    y = model(x, training=False).numpy()
    assert y.shape == (2, shape[0], shape[1], 1)
    assert np.isfinite(y).all() and (y >= 0).all() and (y <= 1).all()


@pytest.mark.parametrize("name", MODELS)
def test_graph_is_flat_and_named(name):
    model = zoo.get_model_entry(name).build_small(input_shape=(64, 64, 3))
    assert not [l for l in model.layers if isinstance(l, keras.Model)], "nested sub-models break tfmot"
    auto = [l.name for l in model.layers if AUTO_NAME.match(l.name)]
    assert not auto, f"auto-generated layer names: {auto[:5]}"
    assert model.name == name


@pytest.mark.parametrize("name", PAPER_MODELS)
def test_parameter_count_matches_documentation_and_paper(name):
    model = zoo.build_model(name, input_shape=(512, 512, 3))
    params = model.count_params()
    assert params == EXPECTED_PARAMS[name]
    paper = zoo.get_model_info(name)["params"]
    assert abs(params / paper - 1) <= PAPER_TOLERANCE[name], (params, paper)


def test_flops_follow_table4_order_and_scale():
    flops = {n: count_flops(zoo.build_model(n, input_shape=(512, 512, 3))) for n in PAPER_MODELS}
    # Paper: U-net 329.7 > MultiResUNet 204.8 ~ Half U-net 204.0 > Half MRU 42.9 > Quarter MRU 21.9 (billions).
    assert flops["unet"] > flops["multiresunet"] > flops["half_multiresunet"] > flops["quarter_multiresunet"]
    assert abs(flops["quarter_multiresunet"] / 21.9e9 - 1) < 0.05
    assert abs(flops["half_multiresunet"] / 42.9e9 - 1) < 0.10
    # FLOPs scale with the image area.
    small = count_flops(zoo.build_model("quarter_multiresunet", input_shape=(256, 256, 3)))
    assert small * 4 == pytest.approx(flops["quarter_multiresunet"], rel=1e-9)


def test_conv_flops_by_hand():
    inp = keras.Input((8, 8, 3))
    out = keras.layers.Conv2D(4, 3, padding="same", name="c")(inp)
    m = keras.Model(inp, out)
    assert count_flops(m) == 8 * 8 * 4 * (2 * 27 - 1 + 1)


def test_layer_names_follow_paper_stages():
    names = {l.name for l in zoo.build_model("half_multiresunet", input_shape=(64, 64, 3)).layers}
    for stage in (0, 1, 4, 7, 8):  # Half keeps the full model's stage numbers
        for part in ("m1", "m2", "m3", "shortcut"):
            assert f"stage{stage}_mrb_{part}_conv" in names
    assert {"stem_conv", "respath0_3_conv3x3_conv", "respath1_0_conv1x1_conv", "head_conv"} <= names
    assert "stage2_mrb_m1_conv" not in names
    unet_names = {l.name for l in zoo.build_model("unet", input_shape=(64, 64, 3)).layers}
    assert {f"stage{i}_{j}_conv" for i in range(9) for j in (1, 2)} <= unet_names


def test_builder_options():
    base = zoo.build_model("half_multiresunet", input_shape=(64, 64, 3))
    wide = zoo.build_model("half_multiresunet", input_shape=(64, 64, 3), width=2.0)
    assert 3.0 < wide.count_params() / base.count_params() < 4.5  # ~ width squared
    short = zoo.build_model("half_multiresunet", input_shape=(64, 64, 3), respath_length=(2, 1))
    assert "respath1_1_conv3x3_conv" not in {l.name for l in short.layers}
    no_bn = zoo.build_model("unet", input_shape=(64, 64, 3), batch_norm=False)
    assert not [l for l in no_bn.layers if isinstance(l, keras.layers.BatchNormalization)]
    literal = zoo.build_model("unet", input_shape=(64, 64, 3), relu_each_conv=False)
    assert "stage0_1_relu" not in {l.name for l in literal.layers}
    logits = zoo.build_model("quarter_multiresunet", input_shape=(32, 32, 3), activation=None)
    assert logits.layers[-1].name == "head_conv"
    three = zoo.build_model("quarter_multiresunet", input_shape=(32, 32, 3), num_classes=3)
    assert three.output_shape == (None, 32, 32, 3)


@pytest.mark.parametrize("name,stride", [("unet", 16), ("half_unet", 4), ("multiresunet", 16),
                                         ("half_multiresunet", 4), ("quarter_multiresunet", 2)])
def test_bad_input_size_names_a_valid_size(name, stride):
    bad = stride * 3 + 1
    with pytest.raises(ValueError, match=f"use {stride * 4}"):
        zoo.build_model(name, input_shape=(bad, stride * 4, 3))


@pytest.mark.parametrize("name", MODELS)
def test_save_load_and_train_step(name, tmp_path):
    model = zoo.get_model_entry(name).build_small(input_shape=(32, 32, 3))
    model.compile(optimizer="adam", loss="binary_crossentropy")
    rng = np.random.default_rng(1)
    x = rng.random((2, 32, 32, 3), dtype=np.float32)
    y = (rng.random((2, 32, 32, 1)) > 0.9).astype(np.float32)
    loss = model.train_on_batch(x, y)
    assert np.isfinite(loss)
    model.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    clone = keras.Model.from_config(model.get_config())
    assert clone.count_params() == model.count_params()


@pytest.mark.parametrize("name", MODELS)
def test_tfmot_quantize_and_prune_accept_model(name):
    import tensorflow_model_optimization as tfmot

    model = zoo.get_model_entry(name).build_small(input_shape=(32, 32, 3))
    qat = quantize_model(model)
    pruned = tfmot.sparsity.keras.prune_low_magnitude(model)
    x = np.random.default_rng(2).random((1, 32, 32, 3), dtype=np.float32)
    assert qat(x).shape == pruned(x).shape == (1, 32, 32, 1)
