"""Flat, tfmot-friendly encoders (backbones) for the zoo's encoder-decoder models.

Convention, shared by every encoder module here:
- a builder `name(inputs, *, output_stride=32, ...) -> dict[int, tf.Tensor]` that adds the encoder's
  layers to the functional graph of `inputs` and returns its feature maps keyed by stride
  (2, 4, 8, 16, 32; a dilated encoder with output_stride 16 or 8 repeats that stride for deeper keys);
- layers named like the `keras.applications` model where one exists, and a `load_imagenet(model,
  path=None)` that copies the official weights in with `zoo.models.pretrained.copy_weights`;
- `INPUT_NORMALIZATION = {"mean": (r, g, b), "std": (r, g, b)}` in [0, 1] pixel units: the data
  pipeline feeds `(x - mean) / std` (recorded in the run's config), never a layer inside the model.
An encoder is added by one `register_encoder(...)` line in `catalog.py`, which also registers it under
every decoder as the models `<decoder>_<encoder>`.
"""
