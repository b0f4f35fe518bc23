"""python -m deploy RUN_DIR_OR_MODEL.keras: convert, compress and report for a trained model.

A run folder (from train.py) supplies everything through its record (zoo.training.run): the model
(best.keras), the data config and the recorded split; the report scores exactly the run's test split
(val when there is none) and lists the scored files. A bare .keras file needs --data.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from deploy.options import add_deploy_arguments, options_from_args
from zoo import quiet
from zoo.cli import OneLineParser, add_data_flags, add_output_flag
from zoo.files import ModelFileError
from zoo.training import data
from zoo.training.run import Run, RunError


def main(argv=None) -> int:
    p = OneLineParser(prog="python -m deploy", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", help="a train.py run folder or a .keras model file")
    g = p.add_argument_group("data")
    add_data_flags(g, data_help="dataset folder: required for a .keras file; for a run, where its recorded files "
                                "are now (default: the run's)")
    p.add_argument("--fold", default=None, metavar="K", help="for a run with --folds: deploy fold K (default: the first)")
    add_output_flag(p, None, "output folder (default: tflite_models/<model>)")
    add_deploy_arguments(p)
    quiet.add_verbose_flag(p)
    a = p.parse_args(argv)
    from deploy.pipeline import deploy_model_file, deploy_run  # TensorFlow loads here, once the flags parse

    src = Path(a.source)
    if not src.exists():
        p.error(f"{src}: no such run folder or model file")
    try:
        options = options_from_args(a)
        if src.is_dir():
            recorded = Run.load(src, data_root=a.data)
            key = None if a.fold is None else (a.fold if a.fold.startswith("fold") else f"fold{a.fold}")
            if key is not None and key not in recorded.splits:
                raise RunError(f"{src}: no fold {a.fold} (recorded: {', '.join(recorded.splits) or 'one split'})")
            out = deploy_run(recorded, options, a.output, split_key=key)
        elif not a.data:
            p.error("a bare .keras file needs --data DATASET_FOLDER")
        else:
            out = deploy_model_file(src, a.data, options, a.output, mask_invert=a.mask_invert,
                                    mask_threshold=a.mask_threshold)
    except (data.DataError, RunError, ModelFileError, ValueError, OSError, RuntimeError) as e:
        print(f"error: {str(e).splitlines()[0] if str(e) else e.__class__.__name__}", file=sys.stderr)
        return 2
    print((out / "report.md").read_text())
    print(f"files in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(quiet.entry_point(main))
