"""What deployment produces (`DeployOptions`) and the command-line flags that set it, shared by
`python -m deploy` and `train.py`."""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from deploy.formats import INT8_MODES, MODES, QUANTIZE_CHOICES, TARGET_CHOICES, TARGETS, help_text

DEFAULT_EXPORT_DIR = Path("tflite_models")  # exports go to tflite_models/<model> unless --output / --export-dir says


@dataclasses.dataclass(frozen=True)
class DeployOptions:
    """What to produce. Sizes in bytes; `prune` is a target sparsity in (0, 1) or None."""

    quantize: tuple = ("int8",)
    targets: tuple = ("tflite",)
    prune: float | None = None
    prune_schedule: str = "polynomial"
    prune_2_by_4: bool = False
    finetune_epochs: int = 2
    finetune_lr: float = 1e-4
    finetune_batch_size: int = 8  # images per optimizer step of pruning / QAT fine-tuning
    qat_memory: int = 2**30  # bytes: QAT runs batches as micro-batches whose activations fit (memory_bounded_batch)
    qat_patience: int | None = 1  # QAT stops after this many epochs without a better validation Dice
    calibration_images: int = 64
    ram_budget: int = 512 * 1024
    flash_budget: int = 1024 * 1024
    threads: int = 2
    mcu_ram: int | None = None  # tiling (deploy/tiling/): tensor-arena budget of the tile model in bytes
    tile_halo: str = "auto"  # "auto", "exact" or a number of pixels

    def __post_init__(self):
        bad = [q for q in self.quantize if q not in QUANTIZE_CHOICES]
        bad += [t for t in self.targets if t not in TARGET_CHOICES]
        if bad:
            raise ValueError(f"unknown quantize mode or target {bad}; quantize: {', '.join(QUANTIZE_CHOICES)}; "
                             f"targets: {', '.join(TARGET_CHOICES)}")


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
                   help=f"comma list of: {help_text(MODES, QUANTIZE_CHOICES)}. fp32 TFLite is always written")
    g.add_argument("--targets", type=_csv(TARGET_CHOICES), default=("tflite",),
                   help=f"comma list of: {help_text(TARGETS, TARGET_CHOICES)}")
    g.add_argument("--prune", type=float, default=None, metavar="SPARSITY", help="magnitude-prune to this sparsity, e.g. 0.5")
    g.add_argument("--prune-schedule", choices=("polynomial", "constant"), default="polynomial")
    g.add_argument("--prune-2by4", action="store_true", help="structured 2:4 sparsity instead of a schedule")
    g.add_argument("--finetune-epochs", type=int, default=2, help="epochs of pruning / QAT fine-tuning")
    g.add_argument("--ram-budget", type=int, default=512 * 1024, help="TFLM arena budget in bytes")
    g.add_argument("--flash-budget", type=int, default=1024 * 1024, help="flash budget in bytes")
    g.add_argument("--mcu-ram", type=parse_bytes, default=None, metavar="BYTES",
                   help="tile the INT8 model for this tensor-arena budget (e.g. 256K): largest tile that fits, "
                        "agreement with the whole image, firmware template (implies --quantize int8)")
    g.add_argument("--tile-halo", type=_halo, default="auto",
                   help="with --mcu-ram: 'exact' (receptive field, bit-identical), pixels, or 'auto' "
                        "(exact when it fits, else the smallest halo agreeing on >= 99.9%% of pixels)")


def parse_bytes(text):
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
    if getattr(a, "mcu_ram", None) and not set(INT8_MODES) & set(quantize):
        quantize = (*quantize, "int8")  # tiling needs an INT8 model
    return DeployOptions(quantize=quantize, targets=a.targets, prune=a.prune, prune_schedule=a.prune_schedule,
                         prune_2_by_4=a.prune_2by4, finetune_epochs=a.finetune_epochs, ram_budget=a.ram_budget,
                         flash_budget=a.flash_budget, mcu_ram=getattr(a, "mcu_ram", None),
                         tile_halo=getattr(a, "tile_halo", "auto"))
