"""zoo.quantization: QAT covers layers tfmot's default registry refuses (squeeze-excite `Multiply`),
and the QAT model converts to a full-INT8 file whose gate is an int8 MUL."""
import numpy as np
import pytest
import tf_keras as keras

import zoo  # noqa: F401  (selects Keras 2)
from deploy import convert
from zoo.quantization import quantize_model


def _squeeze_excite_model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(8, 3, padding="same")(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Activation("swish")(x)
    gate = keras.layers.GlobalAveragePooling2D(keepdims=True)(x)
    gate = keras.layers.Conv2D(4, 1, activation="relu")(gate)
    gate = keras.layers.Conv2D(8, 1, activation="sigmoid")(gate)
    x = keras.layers.Multiply()([x, gate])
    return keras.Model(inputs, keras.layers.Conv2D(1, 1, activation="sigmoid")(x))


def test_default_tfmot_refuses_multiply_and_ours_accepts_it():
    import tensorflow_model_optimization as tfmot

    model = _squeeze_excite_model()
    with pytest.raises(RuntimeError, match="not supported"):
        tfmot.quantization.keras.quantize_model(model)
    qat = quantize_model(model)
    x = np.random.default_rng(0).random((2, 16, 16, 3), dtype=np.float32)
    for _ in range(20):  # let the moving-average ranges settle on this data (they start at +-6)
        qat(x, training=True)
    # With ranges fitted to the data, fake quantization keeps the float function up to a few 8-bit steps.
    assert np.abs(qat(x).numpy() - model(x).numpy()).max() < 0.05
    blob = convert.to_tflite(qat, "qat", [x[:1], x[1:]])
    ops = {op["op"] for op in convert.list_ops(blob)}
    assert "MUL" in ops and "DEQUANTIZE" not in ops and "QUANTIZE" not in ops
    lite = convert.LiteRTModel(blob)
    assert np.abs(lite.predict(x) - model(x).numpy()).max() < 0.1
