"""python -m deploy RUN_DIR_OR_MODEL.keras: convert and report for an existing model.

A run folder (from train.py) supplies the model (best.keras), data, preprocessing and the held-out
split through its config.json; a bare .keras file needs --data.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from deploy.options import add_deploy_arguments, options_from_args
from deploy.pipeline import deploy_saved_model
from zoo.training import data


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
