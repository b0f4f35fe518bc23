"""Tiled inference: run a full-resolution image through a small-tile INT8 model in a microcontroller's RAM.

A fully convolutional model's output pixel p depends only on input pixels p+lo .. p+hi (its receptive
field), and its poolings make it equivariant to shifts by multiples of its total stride (the alignment).
So a tile whose origin is a multiple of the alignment and that reaches `halo` pixels beyond its core
produces, in that core, exactly what the whole image would. Two details make it exact, not approximate:

- **Image border**: every conv zero-pads its *own* input. Near the image border the whole-image model
  pads inner feature maps with zeros, while a tile zero-padded at its input would see conv(0) + bias
  there instead. Tiles are therefore never padded: border tiles are shifted inwards so that their
  edge *is* the image edge, where tile and image pad the same feature maps identically.
- **Quantization**: the tile model is the whole-image INT8 flatbuffer with its activation shapes
  rewritten (`resize_tflite`), so weights, scales and zero points are identical; recalibrating a
  tile-sized model would give slightly different scales.

`receptive_field` reads lo, hi and the alignment from the Keras graph; `impulse_receptive_field`
measures them by pushing impulses through an all-ones copy of the model. With the exact halo the
stitched output is bit-identical to the whole image's; a smaller halo (approximate mode) trades a
measured share of disagreeing pixels for less RAM and compute.

Modules: `receptive_field` (ReceptiveField, receptive_field, impulse_receptive_field, resized_keras_model,
resize_tflite), `plan` (AxisTiles, TilePlan, plan_tiles, tile_boxes, run_tiled), `arena` (TFLMRunner,
arena_curve, largest_fitting_tile, plot_arena), `measure` (BatchRunner, measure_tiling: agreement on batched,
sampled tiles with confidence intervals; check_tflm), `firmware` (write_firmware; the C++ program is
deploy/firmware/) and `deployment` (tile_deployment, mcu_cost: compute factor and MCU latency, model_fit: what a
model needs for a budget, markdown_lines; exposed here). `python -m deploy.tiling` sizes the MCU-sized models
for a budget; `--plot` draws the arena against the tile size.
"""
__all__ = ["AGREEMENT_TARGET", "DICE_TARGET_POINTS", "markdown_lines", "mcu_cost", "measure_tiling", "model_fit",
           "tile_deployment"]


def __getattr__(name):
    """The exposed names load on first use (they import TensorFlow), so `python -m deploy.tiling --help` is quick."""
    if name in ("markdown_lines", "mcu_cost", "model_fit", "tile_deployment"):
        from deploy.tiling import deployment

        return getattr(deployment, name)
    if name in ("AGREEMENT_TARGET", "DICE_TARGET_POINTS", "measure_tiling"):
        from deploy.tiling import measure

        return getattr(measure, name)
    raise AttributeError(f"module 'deploy.tiling' has no attribute {name!r}")
