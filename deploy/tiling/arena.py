"""RAM budget: the TFLite-Micro tensor arena against the tile size, the largest tile that fits, and the plot."""
from __future__ import annotations

import numpy as np

from deploy import tflm
from deploy.tiling.receptive_field import resize_tflite
from zoo.files import atomic_path


SMALLEST_TILE_ALIGNMENTS = 3  # the smallest tile deployment accepts: 3 x the alignment (a core between two halos)
# Keras layers that stay one TFLite op holding its int8 inputs and output in the arena at once (BatchNorm and
# activations may be fused into the op before them, so they are left out: the bound stays a lower bound).
ARENA_OPS = {"Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Conv2DTranspose", "Dense", "Concatenate", "Add",
             "Multiply", "Subtract", "Average", "Maximum", "MaxPooling2D", "AveragePooling2D", "UpSampling2D"}


class BudgetError(ValueError):
    """An `--mcu-ram` budget no tile of the model can run in; the message is one line with the smallest budget."""


def _elements(shapes) -> int:
    shapes = shapes if isinstance(shapes, list) else [shapes]
    return sum(int(np.prod([d for d in s[1:] if d])) for s in shapes if s)


def _op_layers(model):
    """Every layer of `model`, nested models' layers included."""
    for layer in model.layers:
        if hasattr(layer, "layers"):
            yield from _op_layers(layer)
        else:
            yield layer


def activation_floor(keras_model, side: int) -> tuple[int, str]:
    """(bytes, layer name): a lower bound on the TFLM arena of the int8 model at a side x side input, the
    largest int8 input(s) + output of one op (TFLM holds them at once), and the layer it comes from."""
    from deploy.tiling.receptive_field import resized_keras_model

    model = keras_model if tuple(keras_model.input_shape[1:3]) == (side, side) else \
        resized_keras_model(keras_model, (side, side), weights=False)
    best = (0, "")
    for layer in _op_layers(model):
        if type(layer).__name__ in ARENA_OPS:
            best = max(best, (_elements(layer.input_shape) + _elements(layer.output_shape), layer.name))
    return best


def check_budget(keras_model, mcu_ram: int) -> int:
    """Raise `BudgetError` (one line: the smallest budget that could work) when `mcu_ram` bytes cannot hold the
    smallest tile of `keras_model` (`SMALLEST_TILE_ALIGNMENTS` x its alignment) by `activation_floor`, before
    any conversion or training; returns that floor. Shapes only: random weights are fine."""
    from deploy.tiling.receptive_field import receptive_field

    side = SMALLEST_TILE_ALIGNMENTS * receptive_field(keras_model).alignment
    floor, layer = activation_floor(keras_model, side)
    if mcu_ram < floor:
        raise BudgetError(f"--mcu-ram {mcu_ram} B is too small for {keras_model.name}: its smallest tile "
                          f"({side}x{side} px) needs more than {floor} B of tensor arena (layer {layer}'s int8 "
                          f"input and output alone; deploying measures the exact need)")
    return floor


class TFLMRunner:
    """One TFLite-Micro interpreter kept alive across tiles, as firmware does (`invoke_raw` like LiteRTModel's)."""

    def __init__(self, model_bytes: bytes, arena_size: int):
        self.interpreter = tflm._tflm(model_bytes, arena_size)

    def invoke_raw(self, x_quantized: np.ndarray) -> np.ndarray:
        self.interpreter.set_input(x_quantized, 0)
        self.interpreter.invoke()
        return self.interpreter.get_output(0)


def arena_curve(model_bytes: bytes, tiles, progress=None) -> list[tuple[int, int]]:
    """(tile input side, smallest TFLM arena in bytes) for each tile side."""
    from deploy.tiling.measure import progress_bar

    curve = []
    with progress_bar(len(tiles), "tiling: arena curve", progress) as bar:
        for t in tiles:
            curve.append((t, tflm.smallest_arena(resize_tflite(model_bytes, (t, t)))))
            bar.update()
    return curve


def largest_fitting_tile(model_bytes: bytes, ram: int, smallest: int, largest: int, alignment: int) -> int | None:
    """Largest tile side (a multiple of `alignment` in [smallest, largest]) whose TFLM arena fits `ram` bytes,
    by bisection (the arena grows with the tile). None when even `smallest` does not fit."""
    candidates = list(range(smallest, largest + 1, alignment))
    lo, hi = -1, len(candidates)  # candidates[lo] fits, candidates[hi] does not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if tflm.fits(resize_tflite(model_bytes, (candidates[mid],) * 2), ram):
            lo = mid
        else:
            hi = mid
    return candidates[lo] if lo >= 0 else None


def plot_arena(models: dict, budget: int, path) -> None:
    """Arena against tile side for each model ({name: {"curve": [(tile, bytes)], "chosen": tile, "exact_min": tile}}),
    with the RAM budget as a horizontal line, the chosen tile circled and the smallest exact tile dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for (name, m), color in zip(models.items(), plt.rcParams["axes.prop_cycle"].by_key()["color"]):
        tiles, arenas = zip(*m["curve"])
        ax.plot(tiles, np.array(arenas) / 1024, "o-", ms=3, color=color, label=name)
        if m.get("chosen") in tiles:
            ax.plot(m["chosen"], arenas[tiles.index(m["chosen"])] / 1024, "o", ms=11, mfc="none", color=color)
        if m.get("exact_min"):
            ax.axvline(m["exact_min"], ls=":", color=color, label=f"{name}: smallest exact tile {m['exact_min']}")
    ax.axhline(budget / 1024, color="red", ls="--", label=f"budget {budget // 1024} KB")
    ax.set(xlabel="tile input side (px, core + 2 x halo)", ylabel="TFLM arena (KB, log scale)", yscale="log",
           title="Tensor arena vs tile size")
    ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90)
    plt.close(fig)
