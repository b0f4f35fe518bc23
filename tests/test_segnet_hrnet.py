"""Paper 003's baselines SegNet and HRNetV2-W18: parameter counts (documented beside the paper's), forward
shapes, SegNet's pooling-index unpooling, and tfmot QAT + pruning + full-INT8 LiteRT at a small size."""
import numpy as np
import pytest
import tensorflow_model_optimization as tfmot
import tf_keras as keras

import zoo
from deploy import convert
from zoo.models.quantization import quantize_model
from zoo.models.segnet import MaxUnpooling2D


def trainable(model) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def _int8_ops(model, expect_ops, qat=False):
    """Full-INT8 file (PTQ, or QAT with `qat`) runs in LiteRT near the float model and has `expect_ops`.

    (tests/test_models and test_deploy also QAT, prune and convert both modes at the conftest sizes.)"""
    x = np.random.default_rng(0).random((2, *model.input_shape[1:]), dtype=np.float32)
    if qat:
        assert tfmot.sparsity.keras.prune_low_magnitude(model)(x).shape == model(x).shape
    for mode, m in (("qat", quantize_model(model)),) if qat else (("int8", model),):
        blob = convert.to_tflite(m, mode, [x[:1], x[1:]])
        ops = {op["op"] for op in convert.list_ops(blob)}
        assert set(expect_ops) <= ops and not ops & {"QUANTIZE", "DEQUANTIZE", "ADD_N"}, (mode, sorted(ops))
        lite = convert.LiteRTModel(blob)
        assert lite.input["dtype"] == lite.output["dtype"] == np.int8
        y = lite.predict(x)
        assert y.shape == model(x).shape and np.isfinite(y).all()
        if mode == "int8":
            assert np.abs(y - model(x).numpy()).max() < 0.15, mode


# --- SegNet ------------------------------------------------------------------------------------------

def test_segnet_parameters_and_shape():
    model = zoo.build_model("segnet", input_shape=(64, 64, 3))
    assert trainable(model) == 29_435_649 and model.count_params() == 29_451_521  # documented in zoo/models/segnet.py
    assert model.output_shape == (None, 64, 64, 1) and model.layers[-1].name == "head_sigmoid"
    assert sum(isinstance(l, MaxUnpooling2D) for l in model.layers) == 5
    assert sum(isinstance(l, keras.layers.Conv2D) for l in model.layers) == 13 + 12 + 1  # + classifier
    assert zoo.get_model_info("segnet")["params"] == 33_393_157  # paper 003's count (configuration not given)
    with pytest.raises(ValueError, match="divisible"):
        zoo.build_model("segnet", input_shape=(48, 64, 3))


def test_max_unpooling_puts_values_at_the_argmax():
    x = np.array([[1, 5, 0, 2], [3, 2, 7, 1], [4, 0, 1, 1], [9, 3, 8, 2]], np.float32)[None, :, :, None]
    pooled = keras.layers.MaxPooling2D(2)(x)
    y = np.array([[10, 20], [30, 40]], np.float32)[None, :, :, None]
    out = MaxUnpooling2D()([x, pooled, y]).numpy()[0, :, :, 0]
    np.testing.assert_array_equal(out, [[0, 10, 0, 0], [0, 0, 20, 0], [0, 0, 0, 0], [30, 0, 40, 0]])


def test_segnet_int8_ops():
    model = zoo.build_model("segnet", input_shape=(32, 32, 3), width=0.125)
    _int8_ops(model, {"EQUAL", "SELECT_V2", "RESIZE_NEAREST_NEIGHBOR", "MAX_POOL_2D", "CONV_2D"})


# --- HRNetV2-W18 ---------------------------------------------------------------------------------------

SMALL_HRNET = {"width": 0.25, "num_blocks": 1, "num_modules": (1, 1, 1)}


def test_hrnet_parameters_and_structure():
    model = zoo.build_model("hrnet_w18", input_shape=(64, 64, 3))
    assert trainable(model) == 9_637_763 and model.count_params() == 9_672_239  # documented in zoo/models/hrnet.py
    assert model.output_shape == (None, 64, 64, 1)
    assert model.get_layer("head_concat").output_shape == (None, 16, 16, 18 + 36 + 72 + 144)
    widths = {i: model.get_layer(f"stage4_module3_fuse{i}_relu").output_shape[1:] for i in range(4)}
    assert widths == {0: (16, 16, 18), 1: (8, 8, 36), 2: (4, 4, 72), 3: (2, 2, 144)}
    names = {l.name for l in model.layers}
    assert "stage3_module4_branch2_block4_out" in names and "stage3_module5_fuse0_add1" not in names
    assert "stage4_module1_fuse0_3_up" in names and "stage4_module1_fuse3_0_2_conv" in names  # x8 up, 3 stride-2 convs
    assert zoo.get_model_info("hrnet_w18")["params"] == 9_504_578


def test_hrnet_small_config_shapes():
    model = zoo.build_model("hrnet_w18", input_shape=(32, 64, 3), **SMALL_HRNET)
    x = np.random.default_rng(0).random((2, 32, 64, 3), dtype=np.float32)
    y = model(x).numpy()
    assert y.shape == (2, 32, 64, 1) and ((y >= 0) & (y <= 1)).all()
    assert model.get_layer("head_concat").output_shape[-1] == 4 + 9 + 18 + 36
    # A 3- or 4-input Add converts to ADD_N, whose QAT INT8 file aborted LiteRT: the fusion adds pairwise.
    assert not [l for l in model.layers if isinstance(l, keras.layers.Add) and len(l.input) > 2]


@pytest.mark.slow  # the default run converts the same model in both modes in test_deploy
def test_hrnet_qat_int8_ops():
    model = zoo.build_model("hrnet_w18", input_shape=(32, 32, 3), **SMALL_HRNET)
    _int8_ops(model, {"RESIZE_BILINEAR", "CONCATENATION", "ADD", "CONV_2D"}, qat=True)
