"""Command-line pieces every command shares, so a flag that means the same is defined once: one-line
argument errors, the dataset flags, `--output`, and image sizes given as N or HxW."""
from __future__ import annotations

import argparse


class OneLineParser(argparse.ArgumentParser):
    """Argument errors are one line (`error: ...`, exit code 2) instead of the usage block."""

    def error(self, message):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def add_data_flags(group, defaults=None, *, data_help="folder with images/ and masks/ matched by file stem") -> None:
    """--data, --mask-invert / --no-mask-invert, --mask-threshold (defaults from a RunConfig, or none)."""
    group.add_argument("--data", default=getattr(defaults, "data", None), help=data_help)
    group.add_argument("--mask-invert", action="store_true", help="foreground is black in the mask files")
    group.add_argument("--no-mask-invert", dest="mask_invert", action="store_false",
                       default=getattr(defaults, "mask_invert", False),
                       help="foreground is white (the default; overrides a recipe's --mask-invert)")
    group.add_argument("--mask-threshold", type=float, default=getattr(defaults, "mask_threshold", 0.5),
                       help="foreground where mask > this x full scale")


def add_output_flag(group, default, what: str) -> None:
    """--output: the folder a command writes into (one name in every command)."""
    group.add_argument("--output", default=default, help=what)


def parse_size(text) -> tuple[int, int]:
    """'256' -> (256, 256); '288x384' -> (288, 384); ValueError otherwise."""
    try:
        size = tuple(int(v) for v in str(text).lower().split("x"))
        size = size * 2 if len(size) == 1 else size
        if len(size) != 2 or min(size) <= 0:
            raise ValueError
    except ValueError:
        raise ValueError(f"expects N or HxW (positive integers), got {text!r}") from None
    return size

