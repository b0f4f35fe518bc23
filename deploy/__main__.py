"""python -m deploy RUN_DIR_OR_MODEL.keras: convert and report for an existing model.

A run folder (from train.py) supplies the model (best.keras), data, preprocessing and the held-out
split through its config.json; a bare .keras file needs --data.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from deploy.pipeline import QUANTIZE_CHOICES, TARGET_CHOICES, DeployOptions, deploy_saved_model
from zoo.training import data


def _csv(choices):
    def parse(text):
        items = tuple(t for t in text.split(",") if t)
        bad = [t for t in items if t not in choices]
        if bad:
            raise argparse.ArgumentTypeError(f"unknown {bad}; choose from {', '.join(choices)}")
        return items
    return parse


def add_deploy_arguments(p: argparse.ArgumentParser, *, quantize_default=("int8",)) -> None:
    """The compression/export flags, shared with train.py."""
    g = p.add_argument_group("compression and export")
    g.add_argument("--quantize", type=_csv(QUANTIZE_CHOICES), default=quantize_default,
                   help=f"comma list of {','.join(QUANTIZE_CHOICES)} (fp32 TFLite is always written)")
    g.add_argument("--targets", type=_csv(TARGET_CHOICES), default=("tflite",),
                   help=f"comma list of {','.join(TARGET_CHOICES)}")
    g.add_argument("--prune", type=float, default=None, metavar="SPARSITY", help="magnitude-prune to this sparsity, e.g. 0.5")
    g.add_argument("--prune-schedule", choices=("polynomial", "constant"), default="polynomial")
    g.add_argument("--prune-2by4", action="store_true", help="structured 2:4 sparsity instead of a schedule")
    g.add_argument("--finetune-epochs", type=int, default=2, help="epochs of pruning / QAT fine-tuning")
    g.add_argument("--ram-budget", type=int, default=512 * 1024, help="TFLM arena budget in bytes")
    g.add_argument("--flash-budget", type=int, default=1024 * 1024, help="flash budget in bytes")
    g.add_argument("--mcu-ram", type=_bytes, default=None, metavar="BYTES",
                   help="tile the INT8 model for this tensor-arena budget (e.g. 256K): largest tile that fits, "
                        "agreement with the whole image, firmware template (implies --quantize int8)")
    g.add_argument("--tile-halo", type=_halo, default="auto",
                   help="with --mcu-ram: 'exact' (receptive field, bit-identical), pixels, or 'auto' "
                        "(exact when it fits, else the smallest halo agreeing on >= 99.9%% of pixels)")


def _bytes(text):
    """'262144', '256K', '256KB', '1M' -> bytes."""
    t = text.strip().upper().removesuffix("B")
    scale = {"K": 1024, "M": 1024 ** 2}.get(t[-1:], 1)
    try:
        value = int(float(t[:-1] if scale > 1 else t) * scale)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected bytes such as 262144, 256K or 1M, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
    return value


def _halo(text):
    if text in ("auto", "exact") or text.isdigit():
        return text
    raise argparse.ArgumentTypeError(f"expected auto, exact or a number of pixels, got {text!r}")


def options_from_args(a) -> DeployOptions:
    if a.prune is not None and not 0 < a.prune < 1:
        raise ValueError(f"--prune expects a sparsity between 0 and 1, got {a.prune}")
    quantize = a.quantize
    if getattr(a, "mcu_ram", None) and not {"int8", "qat"} & set(quantize):
        quantize = (*quantize, "int8")  # tiling needs an INT8 model
    return DeployOptions(quantize=quantize, targets=a.targets, prune=a.prune, prune_schedule=a.prune_schedule,
                         prune_2_by_4=a.prune_2by4, finetune_epochs=a.finetune_epochs, ram_budget=a.ram_budget,
                         flash_budget=a.flash_budget, mcu_ram=getattr(a, "mcu_ram", None),
                         tile_halo=getattr(a, "tile_halo", "auto"))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m deploy", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", help="a train.py run folder or a .keras model file")
    p.add_argument("--data", help="dataset folder (default: the run's)")
    p.add_argument("--mask-invert", action="store_true")
    p.add_argument("--output", help="output folder (default: tflite_models/<model>)")
    add_deploy_arguments(p)
    a = p.parse_args(argv)

    src = Path(a.source)
    cfg = json.loads((src / "config.json").read_text()) if src.is_dir() else {}
    model_path = src / "best.keras" if src.is_dir() else src
    if not model_path.is_file():
        p.error(f"{model_path}: model file not found")
    if a.data:
        cfg["data"] = a.data
    if not cfg.get("data"):
        p.error("a bare .keras file needs --data DATASET_FOLDER")
    cfg.setdefault("mask_invert", a.mask_invert)
    try:
        out = deploy_saved_model(model_path, cfg, options_from_args(a), a.output)
    except (data.DataError, ValueError, OSError, RuntimeError) as e:
        print(f"error: {str(e).splitlines()[0] if str(e) else e.__class__.__name__}", file=sys.stderr)
        return 2
    print((out / "report.md").read_text())
    print(f"files in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
