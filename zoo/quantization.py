"""Quantization-aware training for every zoo model, including layers tfmot's default registry lacks.

tfmot's 8-bit registry refuses `Multiply` (squeeze-excite gates), `Average` and some activations (hard-sigmoid,
hard-swish). For each such layer class we register a `QuantizeConfig` here, and `quantize_model`
annotates the model with them before `quantize_apply`, so callers never handle the difference.
Add a layer type: write (or reuse) a config and add one line to `CUSTOM_QUANTIZE_CONFIGS`.
"""
from __future__ import annotations

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


# layer class -> QuantizeConfig class, for layers the default 8-bit registry does not support.
CUSTOM_QUANTIZE_CONFIGS: dict[type, type] = {
    keras.layers.Multiply: OutputQuantizeConfig,
    keras.layers.Average: OutputQuantizeConfig,  # UNet++ deep supervision averages its heads
}


def quantize_scope():
    """A `tfmot` quantize scope that knows our configs (needed to build, clone or load a QAT model)."""
    objects = {cls.__name__: cls for cls in set(CUSTOM_QUANTIZE_CONFIGS.values())}
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
