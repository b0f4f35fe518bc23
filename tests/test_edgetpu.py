"""The Edge TPU static check reads op versions and options: a half-pixel resize falls back to the CPU, an op
the modelled compiler may not map is uncertain (never mapped); the zoo's upsampling converts to the form the
compiler maps, with Keras' outputs, and no paper model's INT8 file holds an op the modelled compiler rejects."""
import numpy as np
import pytest
import tensorflow_model_optimization as tfmot
import tf_keras as keras

import zoo
from deploy import convert, edgetpu
from zoo.models.blocks import EdgeUpSampling2D
from zoo.models.quantization import quantize_model


def _images(n, shape=(16, 16, 3), seed=0):
    return np.random.default_rng(seed).random((n, *shape), dtype=np.float32)


def _resize_model(layer_cls, interpolation="nearest", size=2):
    inp = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="c1")(inp)
    x = layer_cls(size, interpolation=interpolation, name="up")(x)
    out = keras.layers.Conv2D(1, 1, activation="sigmoid", name="c2")(x)
    return keras.Model(inp, out)


def _int8(model):
    return convert.to_tflite(model, "int8", [_images(1, model.input_shape[1:])])


def _edit(blob, op_name, **changes):
    """The same file with one field of every `op_name` operator changed: `version=` on its operator code,
    anything else on its builtin options."""
    from ai_edge_litert.tools import flatbuffer_utils as fb

    m = fb.read_model_from_bytearray(bytearray(blob))
    for op in m.subgraphs[0].operators:
        if fb.opcode_to_name(m, op.opcodeIndex) == op_name:
            for key, value in changes.items():
                if key == "version":
                    m.operatorCodes[op.opcodeIndex].version = value
                else:
                    setattr(op.builtinOptions, key, value)
    return bytes(fb.convert_object_to_bytearray(m))


def test_half_pixel_resize_is_a_cpu_fallback():
    keras_up = edgetpu.check_static(_int8(_resize_model(keras.layers.UpSampling2D)))
    assert keras_up["op_versions"]["RESIZE_NEAREST_NEIGHBOR"] == [3]
    assert keras_up["first_fallback"].startswith("RESIZE_NEAREST_NEIGHBOR #1")
    assert "half_pixel_centers=True" in keras_up["first_fallback"]
    assert keras_up["mapped"] == 1 and len(keras_up["cpu_ops"]) == keras_up["ops"] - 1
    assert not keras_up["uncertain"] and "after the first unsupported op #1" in keras_up["cpu_ops"][-1]

    good_blob = _int8(_resize_model(EdgeUpSampling2D))
    good = edgetpu.check_static(good_blob)
    assert good["op_versions"]["RESIZE_NEAREST_NEIGHBOR"] == [2] and good["mapped"] == good["ops"]
    resize = next(op for op in convert.list_ops(good_blob) if op["op"] == "RESIZE_NEAREST_NEIGHBOR")
    assert resize["options"] == {"alignCorners": False, "halfPixelCenters": False}
    assert good["compiler_model"] == edgetpu.COMPILER_MODEL and good["note"].startswith("static check, modelled on")

    crafted = edgetpu.check_static(_edit(good_blob, "RESIZE_NEAREST_NEIGHBOR", halfPixelCenters=True))
    assert crafted["first_fallback"].startswith("RESIZE_NEAREST_NEIGHBOR") and crafted["mapped"] < crafted["ops"]
    bilinear = edgetpu.check_static(_int8(_resize_model(keras.layers.UpSampling2D, "bilinear")))
    assert bilinear["first_fallback"].startswith("RESIZE_BILINEAR") and "half_pixel_centers=True" in bilinear["first_fallback"]


def test_an_op_without_a_known_rule_is_uncertain_not_mapped():
    blob = _int8(_resize_model(EdgeUpSampling2D))
    newer = edgetpu.check_static(_edit(blob, "CONV_2D", version=5))  # a CONV_2D feature newer than the compiler
    assert newer["mapped"] == 0 and not newer["cpu_ops"] and len(newer["uncertain"]) == newer["ops"]
    assert newer["first_fallback"].startswith("CONV_2D #0: uncertain: op version 5")
    assert "after the uncertain op #0" in newer["uncertain"][1]
    # a bilinear resize without half-pixel centers: mapped or not by size, limits unpublished
    plain = edgetpu.check_static(_edit(_int8(_resize_model(keras.layers.UpSampling2D, "bilinear")),
                                       "RESIZE_BILINEAR", halfPixelCenters=False, version=2))
    assert plain["first_fallback"].startswith("RESIZE_BILINEAR #1: uncertain") and not plain["cpu_ops"]
    assert plain["mapped"] == 1


@pytest.mark.parametrize("interpolation,size", [("nearest", 2), ("nearest", (2, 3)), ("nearest", 4),
                                                ("bilinear", 2), ("bilinear", 4), ("bilinear", (8, 2))])
def test_upsampling_matches_keras(interpolation, size):
    x = _images(3, (8, 8, 5), seed=1) * 10 - 5
    ours = EdgeUpSampling2D(size, interpolation=interpolation)(x).numpy()
    theirs = keras.layers.UpSampling2D(size, interpolation=interpolation)(x).numpy()
    if interpolation == "nearest":
        assert np.array_equal(ours, theirs)
    else:  # same weights, summed in another order: float rounding only
        assert ours.shape == theirs.shape and np.abs(ours - theirs).max() < 1e-5
        training = EdgeUpSampling2D(size, interpolation=interpolation)(x, training=True).numpy()
        assert np.array_equal(training, theirs)


def test_upsampling_layer_takes_qat_pruning_and_saving(tmp_path):
    model = _resize_model(EdgeUpSampling2D, "bilinear")
    qat = quantize_model(model)
    assert qat.get_layer("quant_up") is not None
    pruned = tfmot.sparsity.keras.prune_low_magnitude(model)
    assert any(layer.name == "prune_low_magnitude_c1" for layer in pruned.layers)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert type(loaded.get_layer("up")) is EdgeUpSampling2D
    x = _images(1, (8, 8, 3))
    assert np.array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    blob = convert.to_tflite(qat, "qat", [x])
    assert edgetpu.check_static(blob)["cpu_ops"] == []


def _with_keras_upsampling(model):
    """The same model with Keras' own UpSampling2D in place of every EdgeUpSampling2D (the zoo before)."""
    def swap(layer):
        if isinstance(layer, EdgeUpSampling2D):
            return keras.layers.UpSampling2D(layer.size, interpolation=layer.interpolation, name=layer.name)
        return layer.__class__.from_config(layer.get_config())
    clone = keras.models.clone_model(model, clone_function=swap)
    clone.set_weights(model.get_weights())
    return clone


# SegNet's pooling-index unpooling compares and selects (EQUAL, SELECT_V2 on bool tensors): no Edge TPU form.
NO_EDGE_TPU_FORM = {"segnet": ("EQUAL", "SELECT_V2")}


# The default run checks paper 002's default model and one bilinear model; -m slow checks every paper model.
FAST = ("half_multiresunet", "deeplabv3plus_mobilenetv3")


@pytest.mark.parametrize("name", [n if n in FAST else pytest.param(n, marks=pytest.mark.slow)
                                  for n in zoo.list_models(pairs=False)])
def test_no_paper_model_has_an_op_the_modelled_compiler_rejects(name):
    model = zoo.get_model_entry(name).build_small(input_shape=(32, 32, 3))
    x = _images(2, (32, 32, 3), seed=2)
    before = _with_keras_upsampling(model)
    bilinear = any(getattr(layer, "interpolation", None) == "bilinear" for layer in model.layers)
    ours, theirs = model.predict(x, verbose=0), before.predict(x, verbose=0)
    assert np.array_equal(ours, theirs) if not bilinear else np.abs(ours - theirs).max() < 1e-5
    result = edgetpu.check_static(_int8(model))
    assert result["op_versions"].get("RESIZE_NEAREST_NEIGHBOR", [2]) == [2]
    assert "RESIZE_BILINEAR" not in result["op_types"]
    if name in NO_EDGE_TPU_FORM:
        assert result["first_fallback"].split()[0] in NO_EDGE_TPU_FORM[name]
        assert not any("half_pixel_centers" in line for line in result["cpu_ops"])
    else:
        assert result["cpu_ops"] == [], result["cpu_ops"][:3]
