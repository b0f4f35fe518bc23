"""python -m deploy.tiling [--mcu-ram 256K] [--image-size 256] [--plot arena.png]: for the MCU-sized zoo models,
the exact tile, the largest tile whose TFLM arena fits, and with the exact halo the number of tiles, the compute
factor and the estimated MCU latency (shapes only, so random weights); with --plot, arena against tile size."""
from __future__ import annotations

from zoo import quiet


def main(argv=None) -> int:
    """python -m deploy.tiling [--mcu-ram 256K] [--image-size 256] [--plot arena.png]: for the MCU-sized zoo
    models, the exact tile, the largest tile whose TFLM arena fits, and with the exact halo the number of tiles,
    the compute factor and the estimated MCU latency (shapes only, so random weights); with --plot, the arena
    against tile size."""

    import zoo
    from deploy.options import parse_bytes
    from zoo.cli import OneLineParser

    p = OneLineParser(prog="python -m deploy.tiling", description=main.__doc__)
    p.add_argument("--plot", default=None, help="also draw the arena against tile size into this .png")
    p.add_argument("--mcu-ram", type=parse_bytes, default=256 * 1024)
    p.add_argument("--image-size", type=int, default=256)
    p.add_argument("--models", default="quarter_multiresunet,half_multiresunet")
    quiet.add_verbose_flag(p)
    a = p.parse_args(argv)

    from deploy.convert import strip
    from deploy.tiling.arena import BudgetError, arena_curve, check_budget, plot_arena
    from deploy.tiling.deployment import MAC_RATE_SOURCE, duration, model_fit

    curves = {}
    print(f"{a.image_size}x{a.image_size} images in {a.mcu_ram} B of TFLM arena; latency at {MAC_RATE_SOURCE}:")
    for name in a.models.split(","):
        model = zoo.build_model(name, input_shape=(a.image_size, a.image_size, 3))
        try:
            check_budget(model, a.mcu_ram)  # below the smallest tile's floor: say so without converting
        except BudgetError as e:
            print(f"{name}: does not fit: {e}")
            continue
        fit = model_fit(model, (a.image_size,) * 2, a.mcu_ram, keep_bytes=bool(a.plot))
        side = fit["largest_fitting_tile"]
        if fit["mode"] == "exact":
            verdict = (f"exact {side}x{side} tiles, {fit['tiles']} tiles, arena {fit['tile_arena']} B, "
                       f"{fit['compute_factor']:g}x the whole-image MACs, about {duration(fit['mcu_latency_s'])} per "
                       f"image ({duration(fit['whole_image_latency_s'])} untiled)")
        else:
            verdict = (f"{fit['mode']}: largest tile {side}, the exact {fit['exact_tile']} px tile needs "
                       f"{fit['exact_tile_arena']} B")
        print(f"{name}: halo {fit['exact_halo']}, {verdict}")
        if a.plot:
            tiles = sorted({*range(fit["alignment"] * 4, min(a.image_size, 160) + 1, 8), side or fit["alignment"] * 4,
                            fit["exact_tile"]})
            curves[name] = {"curve": arena_curve(strip(fit.pop("model_bytes"), micro=True), tiles), "chosen": side,
                            "exact_min": fit["exact_tile"]}
    if a.plot:
        plot_arena(curves, a.mcu_ram, a.plot)
        print(f"plot in {a.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(quiet.entry_point(main))
