"""zoo.models.quantization: QAT covers layers tfmot's default registry refuses (squeeze-excite `Multiply`),
and the QAT model converts to a full-INT8 file whose gate is an int8 MUL."""
import numpy as np
import pytest
import tf_keras as keras

import zoo  # noqa: F401  (selects Keras 2)
from deploy import convert
from zoo.models.quantization import quantize_model


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


def test_calibrated_qat_starts_where_ptq_is():
    """Before any training, calibrated QAT is as close to the float model as PTQ is; tfmot's own start
    ([-6, 6] activation ranges, [0, 0] on the input) is nowhere near it."""
    from zoo.models.quantization import calibrate_ranges

    keras.utils.set_random_seed(1)
    model = zoo.build_model("quarter_multiresunet", input_shape=(32, 32, 3))
    x = np.random.default_rng(1).random((8, 32, 32, 3), dtype=np.float32)
    calibration = [x[i:i + 1] for i in range(8)]
    reference = model(x).numpy()

    def int8_error(blob):  # mean |INT8 - float| of the converted file
        return float(np.abs(convert.LiteRTModel(blob).predict(x) - reference).mean())

    ptq_error = int8_error(convert.to_tflite(model, "int8", calibration))  # measured 0.0034
    assert int8_error(convert.to_tflite(quantize_model(model), "qat", calibration)) > 0.1  # measured 0.46
    qat = quantize_model(model)
    assert calibrate_ranges(qat, [x[:4], x[4:]]) > 20  # every activation quantizer of this model
    assert int8_error(convert.to_tflite(qat, "qat", calibration)) < 1.5 * ptq_error  # measured 0.0032


def test_qat_keeps_the_best_validation_epoch(sample_data):
    """quantization_aware with val_data scores the calibrated start and each epoch and keeps the best."""
    from deploy import compress
    from zoo.training import data
    from zoo.training.losses import get_loss
    from zoo.training.metrics import evaluate_masks

    pairs = data.find_pairs(sample_data)
    cfg = data.DataConfig((32, 32), 3)
    x_val, y_val = data.load_arrays(pairs[:6], cfg)
    model = zoo.build_model("quarter_multiresunet", input_shape=(32, 32, 3))
    ds = data.make_dataset(pairs[6:14], cfg, batch_size=4, shuffle=True)
    qat, info = compress.quantization_aware(model, ds, get_loss("bce"), epochs=2, lr=1e-3, val_data=(x_val, y_val))
    history = info["val_dice_per_epoch"]
    assert len(history) == 3 and info["kept_epoch"] == int(np.argmax(history))
    kept = round(evaluate_masks(y_val, qat.predict(x_val, verbose=0))["pooled_f1"], 4)
    assert kept == pytest.approx(max(history), abs=1e-4)


def test_qat_file_does_not_depend_on_the_representative_samples():
    """Every range of a calibrated QAT model is a fake-quant node's: one sample converts to the same bytes as
    eight other images (the deployment passes one)."""
    from zoo.models.quantization import calibrate_ranges

    keras.utils.set_random_seed(2)
    model = zoo.build_model("quarter_multiresunet", input_shape=(32, 32, 3))
    x = np.random.default_rng(2).random((9, 32, 32, 3), dtype=np.float32)
    qat = quantize_model(model)
    calibrate_ranges(qat, [x[:8]])
    many = convert.to_tflite(qat, "qat", [x[i:i + 1] for i in range(8)])
    assert convert.to_tflite(qat, "qat", [x[8:]]) == many


def test_micro_batches_step_like_the_whole_batch(sample_data):
    """accumulate_fine_tune: one step on a batch of 8 run as 8 micro-batches of one image moves the weights as
    the whole batch at once does (BatchNorm frozen; only QAT's moving ranges differ); the micro-batch size
    follows the activation memory."""
    from deploy import compress
    from zoo.training import data
    from zoo.training.losses import get_loss

    pairs = data.find_pairs(sample_data)[:8]
    ds = data.make_dataset(pairs, data.DataConfig((32, 32), 3), batch_size=8)
    keras.utils.set_random_seed(3)
    model = zoo.build_model("quarter_multiresunet", input_shape=(32, 32, 3))
    start = [v.numpy() for v in quantize_model(model).trainable_variables]
    steps = []
    for micro in (8, 1):
        qat = quantize_model(model)
        compress.accumulate_fine_tune(qat, ds, 1, get_loss("bce"), optimizer=keras.optimizers.SGD(0.1),
                                      micro_batch=micro)
        steps.append(np.concatenate([(v.numpy() - s).ravel() for v, s in zip(qat.trainable_variables, start)]))
    whole, micro = steps
    assert np.linalg.norm(whole) > 0
    assert np.linalg.norm(micro - whole) < 0.1 * np.linalg.norm(whole)  # measured 7 % at most, per weight
    per_image = compress.activation_bytes(model)
    assert compress.memory_bounded_batch(model, 3 * per_image + 1, 8) == 3
    assert compress.memory_bounded_batch(model, 1, 8) == 1 and compress.memory_bounded_batch(model, 2**40, 8) == 8


@pytest.mark.parametrize("name", ["half_multiresunet", "unet_mobilenetv3_small", "unetpp_efficientnet_lite0"])
def test_folding_batch_norm_keeps_the_function(name):
    """fold_batch_norm: every BatchNorm after a plain Conv2D / DepthwiseConv2D goes into that convolution and the
    model computes the same (BN statistics randomised so the fold is not an identity); a BN after anything
    else stays. QAT of the folded model converts to an INT8 file with the same operators as the unfolded one."""
    from zoo.models.quantization import calibrate_ranges, fold_batch_norm

    keras.utils.set_random_seed(4)
    model = zoo.build_model(name, input_shape=(32, 32, 3))
    rng = np.random.default_rng(4)
    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in bns:
        gamma, beta, mean, var = layer.get_weights()
        layer.set_weights([rng.uniform(0.8, 1.2, gamma.shape), rng.normal(0, 0.1, beta.shape),
                           rng.normal(0, 0.1, mean.shape), rng.uniform(0.8, 1.2, var.shape)])
    after_conv = [bn for bn in bns if type(bn.input.node.layer) in (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)]
    folded, n = fold_batch_norm(model)
    assert n == len(after_conv) > 0
    assert sum(isinstance(layer, keras.layers.BatchNormalization) for layer in folded.layers) == len(bns) - n
    x = rng.random((2, 32, 32, 3), dtype=np.float32)
    logits = [keras.Model(m.inputs, m.layers[-1].input)(x).numpy() for m in (model, folded)]
    assert np.abs(logits[1] - logits[0]).max() < 1e-4 * np.abs(logits[0]).max()  # measured < 7e-6 relative

    def qat_ops(m):
        qat = quantize_model(m)
        calibrate_ranges(qat, [x])
        return sorted(op["op"] for op in convert.list_ops(convert.to_tflite(qat, "qat", [x[:1]])))

    assert qat_ops(folded) == qat_ops(model)
