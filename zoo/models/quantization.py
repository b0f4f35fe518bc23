"""Quantization-aware training for every zoo model, including layers tfmot's default registry lacks.

tfmot's 8-bit registry refuses `Multiply` (squeeze-excite gates), `Average` and some activations (hard-sigmoid,
hard-swish). For each such layer class we register a `QuantizeConfig` here, and `quantize_model`
annotates the model with them before `quantize_apply`, so callers never handle the difference.
Add a layer type: write (or reuse) a config and add one line to `CUSTOM_QUANTIZE_CONFIGS`.
Also here: `HardSwish` and `HardSigmoid`, MobileNetV3's activations as single layers (output-quantized);
`fold_batch_norm`, the model QAT trains when BatchNorm is frozen; `calibrate_ranges`, QAT's starting ranges.
"""
from __future__ import annotations

import copy

import numpy as np
import tensorflow as tf
import tensorflow_model_optimization as tfmot
import tf_keras as keras

qk = tfmot.quantization.keras


class OutputQuantizeConfig(qk.QuantizeConfig):
    """Quantize only the layer's output (8-bit, asymmetric, moving-average range), as the default
    registry does for `Add` and `Concatenate`: right for weightless elementwise layers such as `Multiply`."""

    def get_weights_and_quantizers(self, layer):
        return []

    def get_activations_and_quantizers(self, layer):
        return []

    def set_quantize_weights(self, layer, quantize_weights):
        pass

    def set_quantize_activations(self, layer, quantize_activations):
        pass

    def get_output_quantizers(self, layer):
        return [qk.quantizers.MovingAverageQuantizer(num_bits=8, per_axis=False, symmetric=False, narrow_range=False)]

    def get_config(self):
        return {}


# --- hard-sigmoid and hard-swish (MobileNetV3) ---------------------------------------------------
# Keras has no hard-swish layer (keras.applications builds it from TFOpLambda ops, which tfmot refuses,
# and `Activation("hard_sigmoid")` is a different function, clip(0.2 x + 0.5)). Two small layers,
# written by hand for that reason; the TFLite converter fuses `x * relu6(x + 3) / 6` into HARD_SWISH.

@keras.saving.register_keras_serializable(package="edgeseg")
class HardSigmoid(keras.layers.Layer):
    """relu6(x + 3) / 6, MobileNetV3's gate (Howard et al. 2019, Eq. 2 without the x)."""

    def call(self, inputs):
        return tf.nn.relu6(inputs + 3.0) * (1.0 / 6.0)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_prunable_weights(self):  # tfmot pruning: nothing to prune
        return []


@keras.saving.register_keras_serializable(package="edgeseg")
class HardSwish(keras.layers.Layer):
    """x * relu6(x + 3) / 6 (MobileNetV3 h-swish), one layer so QAT quantizes only its output."""

    def call(self, inputs):
        return inputs * tf.nn.relu6(inputs + 3.0) * (1.0 / 6.0)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_prunable_weights(self):  # tfmot pruning: nothing to prune
        return []


# --- Conv2DTranspose (paper 004's decoder): tfmot's prune-preserving scheme refuses it ---
from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (  # noqa: E402
    default_8bit_quantize_registry as _d8_registry, default_8bit_quantizers as _d8_quantizers)


class _PrunePreserveConvTransposeWeightsQuantizer(_d8_quantizers.Default8BitConvTransposeWeightsQuantizer):
    """tfmot's Conv2DTranspose weight quantizer, keeping the kernel's zeros (mask built as tfmot's
    prune-preserving quantizers build theirs); on an unpruned kernel it is the default quantizer."""

    def build(self, tensor_shape, name, layer):
        kernel = getattr(layer.layer, name)
        return {"sparsity_mask": tf.math.divide_no_nan(kernel, kernel), **super().build(tensor_shape, name, layer)}

    def __call__(self, inputs, training, weights, **kwargs):
        return super().__call__(inputs * weights["sparsity_mask"], training, weights, **kwargs)


class ConvTransposeQuantizeConfig(_d8_registry.Default8BitConvTransposeQuantizeConfig):
    """The default 8-bit config of Conv2DTranspose with a zero-preserving weight quantizer, so that both
    the default and the prune-preserving scheme (which has no Conv2DTranspose entry) quantize it."""

    def __init__(self):
        super().__init__(["kernel"], ["activation"], False)
        self.weight_quantizer = _PrunePreserveConvTransposeWeightsQuantizer()

    def get_config(self):
        return {}


# layer class -> QuantizeConfig class, for layers the default 8-bit registry does not support.
CUSTOM_QUANTIZE_CONFIGS: dict[type, type] = {
    keras.layers.Multiply: OutputQuantizeConfig,
    HardSigmoid: OutputQuantizeConfig,
    HardSwish: OutputQuantizeConfig,
    keras.layers.Conv2DTranspose: ConvTransposeQuantizeConfig,
    keras.layers.Average: OutputQuantizeConfig,  # UNet++ deep supervision averages its heads
}


def quantize_scope():
    """A `tfmot` quantize scope that knows our configs (needed to build, clone or load a QAT model)."""
    objects = {cls.__name__: cls for cls in set(CUSTOM_QUANTIZE_CONFIGS.values())}
    objects |= {cls.__name__: cls for cls in CUSTOM_QUANTIZE_CONFIGS if cls.__module__ == __name__}
    return qk.quantize_scope(objects)


def annotate(model):
    """`model` with every layer annotated for QAT; custom configs where the default registry has none."""

    def annotate_layer(layer):
        config_cls = CUSTOM_QUANTIZE_CONFIGS.get(type(layer))
        if config_cls is not None:
            return qk.quantize_annotate_layer(layer, quantize_config=config_cls())
        return layer

    with quantize_scope():
        annotated = keras.models.clone_model(model, clone_function=annotate_layer)
        annotated.set_weights(model.get_weights())
        return qk.quantize_annotate_model(annotated)


def quantize_model(model, scheme=None):
    """tfmot `quantize_model` that also handles the layers in `CUSTOM_QUANTIZE_CONFIGS`.

    `scheme` defaults to tfmot's 8-bit scheme; pass
    `tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme()` to keep a pruned model's zeros.
    """
    with quantize_scope():
        annotated = annotate(model)
        return qk.quantize_apply(annotated, scheme) if scheme is not None else qk.quantize_apply(annotated)


def _layer_refs(node_data):
    """Every [layer name, node index, tensor index, ...] reference in a layer config's `inbound_nodes` entry."""
    if isinstance(node_data, list) and len(node_data) >= 3 and isinstance(node_data[0], str) \
            and isinstance(node_data[1], int):
        yield node_data
    elif isinstance(node_data, (list, tuple)):
        for item in node_data:
            yield from _layer_refs(item)
    elif isinstance(node_data, dict):
        for item in node_data.values():
            yield from _layer_refs(item)


def fold_batch_norm(model) -> tuple[keras.Model, int]:
    """`model` with every BatchNormalization that follows a convolution folded into it (kernel scaled per output
    channel, BN's shift as the bias), and how many were folded: the same function in inference mode, as the
    TFLite converter computes it (Jacob et al. 2018, Sec. 3.2). QAT with frozen BatchNorm trains this form:
    per-channel weight quantization of the folded kernel is what the INT8 file holds, and training needs
    neither BN's activations nor its time. A BN is folded when its one input is a Conv2D or DepthwiseConv2D
    without activation whose output feeds nothing else; every other layer is kept with its weights.
    Written here because tfmot has no BatchNorm folding (its 8-bit scheme trains BN as a separate layer)."""
    cfg = copy.deepcopy(model.get_config())
    by_name = {layer["config"]["name"]: layer for layer in cfg["layers"]}
    consumers: dict[str, list[str]] = {}
    for layer in cfg["layers"]:
        for ref in _layer_refs(layer["inbound_nodes"]):
            consumers.setdefault(ref[0], []).append(layer["config"]["name"])
    for ref in _layer_refs(cfg["output_layers"]):
        consumers.setdefault(ref[0], []).append(None)
    folded = {}  # BN name -> conv name
    for layer in cfg["layers"]:
        refs = list(_layer_refs(layer["inbound_nodes"]))
        if layer["class_name"] != "BatchNormalization" or len(refs) != 1:
            continue
        source = by_name[refs[0][0]]
        bn = model.get_layer(layer["config"]["name"])
        if (source["class_name"] in ("Conv2D", "DepthwiseConv2D") and source["config"]["activation"] == "linear"
                and consumers[refs[0][0]] == [layer["config"]["name"]] and len(source["inbound_nodes"]) == 1
                and bn.axis in ([3], [-1], 3, -1)):
            folded[layer["config"]["name"]] = refs[0][0]
    if not folded:
        return model, 0
    for conv in folded.values():
        by_name[conv]["config"]["use_bias"] = True
    cfg["layers"] = [layer for layer in cfg["layers"] if layer["config"]["name"] not in folded]
    for ref in _layer_refs([layer["inbound_nodes"] for layer in cfg["layers"]] + [cfg["output_layers"]]):
        ref[0] = folded.get(ref[0], ref[0])
    with quantize_scope():
        result = keras.Model.from_config(cfg)
    bn_of = {conv: bn for bn, conv in folded.items()}
    for layer in result.layers:
        weights = model.get_layer(layer.name).get_weights()
        if layer.name in bn_of:
            bn = model.get_layer(bn_of[layer.name])
            gamma = bn.gamma.numpy() if bn.scale else 1.0
            beta = bn.beta.numpy() if bn.center else 0.0
            scale = gamma / np.sqrt(bn.moving_variance.numpy() + bn.epsilon)
            kernel, bias = weights[0], weights[1] if len(weights) > 1 else 0.0
            if isinstance(layer, keras.layers.DepthwiseConv2D):  # output channel c * multiplier + m
                kernel = kernel * scale.reshape(kernel.shape[2], kernel.shape[3])
            else:
                kernel = kernel * scale
            weights = [kernel, (bias - bn.moving_mean.numpy()) * scale + beta]
        layer.set_weights(weights)
    return result, len(folded)


def calibrate_ranges(qat_model, batches) -> int:
    """Set every activation range (input and moving-average quantizers) of `qat_model` to the min/max its
    float activations reach on `batches` (inference mode, no fake quantization), as post-training
    calibration does; returns how many ranges were set.

    tfmot starts each range at [-6, 6] (an input's at [0, 0]) and moves it by 0.1 % per training step (EMA
    decay 0.999, fixed in `MovingAverageQuantizer`): an untrained QAT model is useless and a short fine-tune
    ends with ranges near [-6, 6]. Calibrated, QAT starts where PTQ is (kernel ranges are set from the
    kernels too). Written here because tfmot has no calibration step. The forward pass is one traced graph
    whose quantizers widen their own range variables, so each batch costs about one inference.
    """
    seen: dict[int, tuple] = {}  # id(min_var) -> (min_var, max_var) of each activation quantizer
    quantizers = qk.quantizers
    original = {cls: cls.__call__ for cls in (quantizers.MovingAverageQuantizer, quantizers.AllValuesQuantizer,
                                              quantizers.LastValueQuantizer)}

    def observe(self, inputs, training, weights, **kwargs):  # activation quantizers: widen the range, pass float
        if self.per_axis or self.symmetric:
            base = next(cls for cls in original if isinstance(self, cls))  # also for subclasses
            return original[base](self, inputs, training, weights, **kwargs)
        min_var, max_var = weights["min_var"], weights["max_var"]
        seen.setdefault(id(min_var), (min_var, max_var))
        min_var.assign(tf.minimum(min_var, tf.reduce_min(inputs)))
        max_var.assign(tf.maximum(max_var, tf.reduce_max(inputs)))
        return inputs

    def set_from_kernel(self, inputs, training, weights, **kwargs):  # weight quantizers: range := kernel's range
        return original[quantizers.LastValueQuantizer](self, inputs, True, weights, **kwargs)

    batches = [tf.convert_to_tensor(x) for x in batches]
    if not batches:
        return 0
    forward = tf.function(lambda x: qat_model(x, training=False),
                          input_signature=[tf.TensorSpec([None, *batches[0].shape[1:]], batches[0].dtype)])
    quantizers.MovingAverageQuantizer.__call__ = quantizers.AllValuesQuantizer.__call__ = observe
    quantizers.LastValueQuantizer.__call__ = set_from_kernel
    try:
        forward = forward.get_concrete_function()  # traced with the observing quantizers
    finally:
        for cls, call in original.items():
            cls.__call__ = call
    for min_var, max_var in seen.values():  # 0 stays inside every range (TFLite needs it)
        min_var.assign(tf.zeros_like(min_var))
        max_var.assign(tf.zeros_like(max_var))
    for x in batches:
        forward(x)
    for min_var, max_var in seen.values():
        if float(tf.reduce_max(max_var - min_var)) < 1e-6:  # a constant-zero tensor: keep a tiny valid range
            max_var.assign(min_var + 1e-3)
    return len(seen)
