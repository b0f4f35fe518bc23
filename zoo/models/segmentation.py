"""Any encoder with any decoder: one builder for every pair of the two catalogues, and their registry entries.

`build_segmentation_model("efficientnet_b0", "unet")` adds the encoder (`zoo.models.encoders.catalog`) to a
fresh input, runs the decoder (`zoo.models.decoders`) on its features by stride, and puts the decoder's
head on top (upsampled bilinearly to the input size when the decoder stops at stride 2 or 4): one
flat functional `keras.Model` named `<decoder>_<encoder>`, with the encoder's `keras.applications`
layer names, so `encoder_weights="imagenet"` copies the official weights by name.

Every encoder under every decoder is a registry entry of kind "pair" named `<decoder>_<encoder>`
(`zoo.build_model("unet_resnet34")`), with the encoder's input normalisation and, as its tiny test
variant, both parts' `small` arguments. The papers' named models (`efficientunetpp`, ...) are this
builder with fixed arguments.
"""
from __future__ import annotations

import functools

import tf_keras as keras

from zoo.models import decoders
from zoo.models.blocks import check_input_shape, supervised_output
from zoo.models.encoders import catalog
from zoo.models.registry import list_models, register_model


def pair_name(encoder: str, decoder: str) -> str:
    """The model name of a pair: `<decoder>_<encoder>` (`unet_efficientnet_b0`)."""
    return f"{decoder}_{encoder}"


def build_segmentation_model(encoder: str, decoder: str, *, input_shape=(256, 256, 3), num_classes: int = 1,
                             activation: str | None = "sigmoid", width: float = 1.0, output_stride: int | None = None,
                             encoder_weights=None, encoder_args: dict | None = None, decoder_args: dict | None = None,
                             name: str | None = None):
    """One flat model: catalogue `encoder` under catalogue `decoder`, head, activation.

    `width` scales the decoder's channels; `output_stride` (DeepLabV3+: 16 or 8) dilates the encoder's
    last stages; `encoder_weights` None, "imagenet" (Keras cache) or a path to the official `.h5`;
    `encoder_args` / `decoder_args` override the catalogue's arguments (e.g. `{"alpha": 0.75}`,
    `{"deep_supervision": True}` for the nested decoders).
    """
    enc, dec = catalog.get_encoder(encoder), decoders.get_decoder(decoder)
    name = name or pair_name(encoder, decoder)
    encoder_args, decoder_args = dict(encoder_args or {}), dict(decoder_args or {})
    output_stride = output_stride or dec.output_strides[0]
    if output_stride not in dec.output_strides:
        raise ValueError(f"{name}: decoder {decoder} takes output_stride {' or '.join(map(str, dec.output_strides))}, "
                         f"got {output_stride}")
    h, w, c = check_input_shape(input_shape, output_stride, name)
    inputs = keras.Input((h, w, c), name="image")
    if output_stride != 32:
        encoder_args["output_stride"] = output_stride
    features = enc.build(inputs, **encoder_args)
    top = dec.build(features, **{"width": width, **decoder_args})
    top = top if isinstance(top, list) else [top]
    outputs = supervised_output(top, num_classes, activation, decoder_args.get("deep_supervision", False),
                                kernel_size=dec.head_kernel, factors=[h // t.shape[1] for t in top])
    model = keras.Model(inputs, outputs, name=name)
    if encoder_weights is not None:
        enc.load_imagenet(model, encoder_weights, **encoder_args)
    return model


def register_pairs() -> list[str]:
    """Register every catalogued encoder under every decoder not registered yet; returns the new names.

    Runs when this module is imported; call it again after adding an encoder or decoder later."""
    known, added = set(list_models(papers=False)), []
    for encoder, enc in catalog.ENCODERS.items():
        for decoder, dec in decoders.DECODERS.items():
            name = pair_name(encoder, decoder)
            if name in known:
                continue
            register_model(functools.partial(build_segmentation_model, encoder, decoder), name=name, kind="pair",
                           input_normalization=enc.input_normalization, encoder=encoder, decoder=decoder,
                           small={"encoder_args": dict(enc.small), "decoder_args": dict(dec.small)})
            added.append(name)
    return added


register_pairs()

