"""python -m deploy.tiling --plot arena.png [--mcu-ram 256K] [--image-size 256]: arena against tile size
for the MCU-sized zoo models (shapes only, so random weights), with the budget and each chosen tile."""
from __future__ import annotations

import numpy as np

from deploy.tiling.arena import arena_curve, largest_fitting_tile, plot_arena
from deploy.tiling.receptive_field import receptive_field


def main(argv=None) -> int:
    """python -m deploy.tiling --plot arena.png [--mcu-ram 256K] [--image-size 256]: arena against tile size
    for the MCU-sized zoo models (shapes only, so random weights), with the budget and each chosen tile."""
    import argparse

    import zoo
    from deploy.options import parse_bytes
    from deploy.convert import to_tflite

    p = argparse.ArgumentParser(prog="python -m deploy.tiling", description=main.__doc__)
    p.add_argument("--plot", required=True, help="output .png")
    p.add_argument("--mcu-ram", type=parse_bytes, default=256 * 1024)
    p.add_argument("--image-size", type=int, default=256)
    p.add_argument("--models", default="quarter_multiresunet,half_multiresunet")
    a = p.parse_args(argv)
    curves = {}
    for name in a.models.split(","):
        model = zoo.build_model(name, input_shape=(a.image_size, a.image_size, 3))
        rf = receptive_field(model)
        x = np.random.default_rng(0).random((1, a.image_size, a.image_size, 3), dtype=np.float32)
        blob = to_tflite(model, "int8", [x])
        side = largest_fitting_tile(blob, a.mcu_ram, rf.alignment, a.image_size, rf.alignment)
        tiles = sorted({*range(rf.alignment * 4, min(a.image_size, 160) + 1, 8), side or rf.alignment * 4,
                        2 * rf.exact_halo + rf.alignment})
        curves[name] = {"curve": arena_curve(blob, tiles), "chosen": side, "exact_min": 2 * rf.exact_halo + rf.alignment}
        print(f"{name}: halo {rf.exact_halo}, largest tile in {a.mcu_ram} B: {side}; " +
              ", ".join(f"{t}:{b // 1024}K" for t, b in curves[name]["curve"]))
    plot_arena(curves, a.mcu_ram, a.plot)
    print(f"plot in {a.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
