"""Model cards for the trained models shipped in `tflite_models/<name>/`.

    python -m deploy.model_card RUN DEPLOY_DIR --name NAME --dataset DATASET \
        --train-command "python train.py ..." --deploy-command "python -m deploy RUN ..."

reads a train.py run folder (`config.json`, `split.json`, `history.csv`) and the deploy report of that run
(`report.json` and the `.tflite` files beside it), then writes `tflite_models/NAME/`: the INT8 `.tflite` (and
the float one when it is under 1 MB) with their `.json` sidecars, the run's `config.json` and `split.json`,
`report.json`, one test image as a sample, and the model card: `card.json` (machine-readable; what
`tests/test_shipped_models.py` checks) and `README.md` (the same facts for people). Nothing is re-measured here:
every score, size and latency comes from the deploy report, the data licence from the dataset's `SOURCE.md`.

A run trained with `--test-data` (tested on another dataset) names that dataset in the card, and the sample image
comes from it. For a `--folds` run, `--fold-report DIR` (once per fold, the shipped fold's deploy folder included)
adds every fold's scores and their mean; one fold's files ship.
"""
from __future__ import annotations

import csv
import json
import os
import re
import shutil
from pathlib import Path

from deploy.formats import variant_key
from deploy.timing import cpu_model
from zoo import quiet
from zoo.cli import OneLineParser

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "tflite_models"
CARD_FILE = "card.json"
FLOAT_SHIP_LIMIT = 1 << 20  # the fp32 .tflite ships too when smaller than this
SCORE_KEYS = ("f1", "iou", "precision", "recall", "rw_f1", "rw_iou", "image_mean_f1")


def source_facts(dataset_dir: Path) -> dict:
    """Title, licence lines and citation of a dataset from its SOURCE.md (the text as written there)."""
    text = (dataset_dir / "SOURCE.md").read_text() if (dataset_dir / "SOURCE.md").is_file() else ""
    lines = text.splitlines()
    title = lines[0].lstrip("# ").strip() if lines else dataset_dir.name

    def bullet(key: str) -> str:
        """The text of the top-level `- **Key**...` bullet with its indented continuation lines."""
        out, on = [], False
        for line in lines:
            if line.startswith("- **"):
                on = line.lower().startswith(f"- **{key.lower()}")
                if on:
                    out.append(re.sub(r"^- \*\*[^*]+\*\*\s*(\([^)]*\))?:?\s*", "", line))
                continue
            if on and (line.startswith("  ") or not line.strip()) and not line.startswith("#"):
                if line.strip():
                    item = line.strip()
                    out.append(("; " if out and item.startswith("- ") else "") + item.removeprefix("- "))
            elif on:
                on = False
        text = " ".join(out).replace(" ; ", "; ").replace(".; ", "; ").replace("**", "").strip(" ;")
        return text.replace("I did not check this.", "(not checked)")

    return {"title": title, "licence": bullet("Licence"), "citation": bullet("Citation"),
            "taken_from": bullet("Taken from")}


def _rw(scores: dict) -> dict:
    """Deploy scores plus paper 002's recall-weighted F1 and IoU (pooled F1 x recall, IoU x recall)."""
    out = dict(scores)
    out["rw_f1"] = round(scores["f1"] * scores["recall"], 4)
    out["rw_iou"] = round(scores["iou"] * scores["recall"], 4)
    return {k: out[k] for k in SCORE_KEYS if k in out}


def _mean(rows: list) -> dict:
    """Per-key mean (4 decimals) of score dicts."""
    return {k: round(sum(r[k] for r in rows) / len(rows), 4) for k in SCORE_KEYS if all(k in r for r in rows)}


def fold_scores(run_dir: Path, deploy_dirs: list) -> dict:
    """{"folds": {key: {images, float, int8}}, "mean": {float, int8}} from each fold's deploy report; every fold
    of the run's split.json exactly once (`ValueError` naming the folder otherwise)."""
    recorded = json.loads((Path(run_dir) / "split.json").read_text())["splits"]
    folds = {}
    for folder in map(Path, deploy_dirs):
        report = json.loads((folder / "report.json").read_text())
        key = report.get("fold")
        if key not in recorded or key in folds or Path(report.get("run") or "").resolve() != Path(run_dir).resolve():
            raise ValueError(f"{folder}: report of fold {key!r} of {report.get('run')}, expected one new fold of {run_dir}")
        v = report["variants"]
        folds[key] = {"images": report["eval_images"], "float": _rw(v["keras_float"]["scores"]),
                      "int8": _rw(v[variant_key("int8")]["scores"])}
    if sorted(folds) != sorted(recorded):
        raise ValueError(f"--fold-report: got folds {sorted(folds)}, the run has {sorted(recorded)}")
    folds = dict(sorted(folds.items()))
    return {"folds": folds, "mean": {n: _mean([f[n] for f in folds.values()]) for n in ("float", "int8")}}


def _dataset(name: str, root: Path) -> dict:
    return {"name": name, "path": f"../shared/data/{name}", **source_facts(root)}


def _epochs_run(run_dir: Path, key: str) -> int | None:
    path = (run_dir / key if key else run_dir) / "history.csv"
    if not path.is_file():
        return None
    with path.open() as f:
        return sum(1 for _ in csv.DictReader(f))


def train_seconds(run_dir: Path, key: str) -> float | None:
    """Wall time of training (and its test scoring): config.json is written before the first epoch, metrics.json
    after the last."""
    end = (run_dir / key if key else run_dir) / "metrics.json"
    if not end.is_file():
        end = (run_dir / key if key else run_dir) / "history.csv"
    start = run_dir / "config.json"
    if not (end.is_file() and start.is_file()):
        return None
    return round(end.stat().st_mtime - start.stat().st_mtime, 1)


def build_card(run_dir, deploy_dir, *, name: str, dataset: str, train_command: str, deploy_command: str,
               data_root: Path | None = None, train_seconds_override: float | None = None,
               paper: dict | None = None, notes: list | None = None, machine_note: str = "",
               fold_reports: list | None = None) -> dict:
    """The card of one shipped model as a dict (see the module docstring); no file is written."""
    run_dir, deploy_dir = Path(run_dir), Path(deploy_dir)
    config = json.loads((run_dir / "config.json").read_text())
    report = json.loads((deploy_dir / "report.json").read_text())
    variants = report["variants"]
    int8 = variants[variant_key("int8")]  # post-training INT8 (the shipped file)
    fp32 = variants[variant_key("fp32")]
    data_root = Path(data_root) if data_root else ROOT.parent / "shared" / "data" / dataset
    test_name = Path(config["test_data"]).name if config.get("test_data") else None
    test_root = data_root.parent / test_name if test_name else data_root
    key = report.get("fold") or ""
    split = json.loads((run_dir / "split.json").read_text())["splits"][key]
    test = split["test"] or split["val"]
    sample_image = test[0][0]
    files = {"int8": int8["file"], "int8_sidecar": Path(int8["file"]).with_suffix(".json").name,
             "split": "split.json", "config": "config.json", "report": "report.json",
             "sample": f"sample/{sample_image}"}
    if fp32["bytes"] < FLOAT_SHIP_LIMIT:
        files |= {"fp32": fp32["file"], "fp32_sidecar": Path(fp32["file"]).with_suffix(".json").name}
    metrics_path = (run_dir / key if key else run_dir) / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    original = {k: round(metrics[f"pooled_{k}"], 4) for k in SCORE_KEYS if f"pooled_{k}" in metrics}
    seconds = train_seconds_override if train_seconds_override is not None else train_seconds(run_dir, key)
    tflm = int8.get("tflm") or {}
    etpu = int8.get("edgetpu") or {}
    h, w = report["input_shape"][:2]
    card = {
        "name": name,
        "model": config["model"],
        "width": config["width"],
        "input_shape": report["input_shape"],
        "preprocessing": report["preprocessing"],
        "dataset": {**_dataset(dataset, data_root), "mask_invert": config["mask_invert"],
                    "test": _dataset(test_name, test_root) if test_name else None},
        "split": {"file": "split.json", "key": key, "fold": key or None, "folds": config["folds"],
                  "test_data": f"../shared/data/{test_name}" if test_name else None,
                  "seed": config["seed"], "scored": report["eval_split"],
                  "images": {n: len(split[n]) for n in ("train", "val", "test")}},
        "commands": {"train": train_command, "deploy": deploy_command,
                     "card": f"python -m deploy.model_card RUN DEPLOY_DIR --name {name} --dataset {dataset} ...",
                     "predict": f"python predict.py tflite_models/{name}/sample/{sample_image} "
                                f"--model tflite_models/{name}/{int8['file']} --output /tmp/{name}_predictions"},
        "training": {"epochs": config["epochs"], "epochs_run": _epochs_run(run_dir, key),
                     "batch_size": config["batch_size"], "loss": config["loss"], "optimizer": config["optimizer"],
                     "lr": config["lr"], "lr_schedule": config["lr_schedule"], "augment": config["augment"],
                     "recipe": (config.get("recipe") or {}).get("name"), "checkpoint": "best validation Dice (best.keras)",
                     "wall_time_s": seconds, "nproc": os.cpu_count(), "cpu_model": cpu_model(),
                     "machine_note": machine_note},
        "scores": {"images": report["eval_images"], "split": report["eval_split"], "threshold": report["threshold"],
                   "pooled_over": "all pixels of the scored images at model resolution",
                   "float": _rw(variants["keras_float"]["scores"]), "fp32_tflite": _rw(fp32["scores"]),
                   "int8": _rw(int8["scores"]), "int8_dice_drop_points": report.get("int8_dice_drop_points"),
                   "float_original_size": original or None,
                   "all_folds": fold_scores(run_dir, fold_reports) if fold_reports else None},
        "size": {"int8_bytes": int8["bytes"], "int8_gzip_bytes": int8["gzip_bytes"], "fp32_bytes": fp32["bytes"],
                 "fp32_gzip_bytes": fp32["gzip_bytes"]},
        "latency_ms": {"int8": int8["latency_ms"], "fp32": fp32["latency_ms"], "threads": report["threads"],
                       "runtime": f"LiteRT (ai-edge-litert), batch 1, median of {report.get('latency_runs', 20)}",
                       "input": f"{h}x{w}"},
        "tflm": {k: tflm.get(k) for k in ("arena_bytes", "flash_bytes", "ram_budget", "fits_ram", "flash_budget",
                                           "fits_flash", "max_diff_vs_litert_ref", "error") if k in tflm},
        "edgetpu": {k: etpu.get(k) for k in ("ops", "mapped", "mapped_fraction", "cpu_ops", "first_fallback",
                                              "compiler_model", "note", "compiled", "reason") if k in etpu},
        "files": files,
        "sample": {"image": f"sample/{sample_image}", "from": f"the test split of {test_name or dataset}",
                   "licence": source_facts(test_root)["licence"]},
        "paper": paper,
        "notes": notes or [],
    }
    return card


def _pct(v) -> str:
    return "-" if v is None else f"{v:.4f}"


COLUMN_NAMES = {"rw_f1": "r.w. F1", "rw_iou": "r.w. IoU (\"mIoU\")", "f1": "F1", "iou": "IoU"}


def _paper_lines(card: dict) -> list:
    """The "Next to the paper" section: the paper's rows, then this model's (and its fold mean's) rows."""
    p, s = card["paper"], card["scores"]
    cols = p.get("columns", ["rw_f1", "rw_iou", "f1", "iou"])
    ours = [("Keras float", s["float"]), ("INT8", s["int8"])]
    if s.get("all_folds"):
        n = len(s["all_folds"]["folds"])
        ours = [(f"shipped fold {card['split']['fold'][4:]}, {name}", v) for name, v in ours] + \
               [(f"mean of {n} folds, {name}", s["all_folds"]["mean"][k]) for name, k in (("Keras float", "float"),
                                                                                           ("INT8", "int8"))]
    row = lambda what, v, data: f"| {what} | " + " | ".join(_pct(v.get(c)) for c in cols) + f" | {data} |"
    return ["", "### Next to the paper", "", p["text"], "",
            "| | " + " | ".join(p.get("headers", [COLUMN_NAMES[c] for c in cols])) + " | data |",
            "|---|" + "---|" * len(cols) + "---|",
            *[row(r["what"], r, r["data"]) for r in p["rows"]],
            *[row(f"this model, {n}", v, p.get("our_data", card["dataset"]["name"])) for n, v in ours]]


def _fold_lines(card: dict) -> list:
    """Every fold's pooled test scores (each fold's own deploy report) and their mean."""
    a = card["scores"].get("all_folds")
    if not a:
        return []
    cols = ("f1", "iou", "recall", "rw_f1", "rw_iou")
    names = {"f1": "F1", "iou": "IoU", "recall": "recall", "rw_f1": "r.w. F1", "rw_iou": "r.w. IoU"}
    head = " | ".join(f"{v} {names[c]}" for v in ("float", "INT8") for c in cols)
    row = lambda what, n, f, i: (f"| {what} | {n} | " + " | ".join(_pct(x.get(c)) for x in (f, i) for c in cols) + " |")
    return ["", f"### All {len(a['folds'])} folds", "",
            f"Each fold trained and deployed on its own (`python -m deploy RUN --fold K`), scored on its own test "
            f"images; the shipped file is fold {card['split']['fold'][4:]}'s. The mean is over folds (not pooled "
            "over all images).", "",
            f"| fold | test images | {head} |", "|---|---|" + "---|" * (2 * len(cols)),
            *[row(k[4:], f["images"], f["float"], f["int8"]) for k, f in a["folds"].items()],
            row("mean", sum(f["images"] for f in a["folds"].values()), a["mean"]["float"], a["mean"]["int8"])]


def card_markdown(card: dict) -> str:
    """The model card README.md: every number from `card` (itself from the run and its deploy report)."""
    s, t, d = card["scores"], card["training"], card["dataset"]
    size, lat, tflm, etpu = card["size"], card["latency_ms"], card["tflm"], card["edgetpu"]
    h, w, c = card["input_shape"]
    norm = card["preprocessing"].get("input_normalization")
    norm_text = "[0, 1] pixels" if not norm else f"(x - mean) / std, mean {norm['mean']}, std {norm['std']}"
    split = card["split"]
    split_words = (f"fold {split['fold'][4:]} of {split['folds']} (`--folds {split['folds']} --fold "
                   f"{split['fold'][4:]}`)" if split["fold"] else
                   f"every image of {d['test']['name']} (`--test-data`); {d['name']} gave train and val only"
                   if d.get("test") else "one train / val / test split")
    minutes = "-" if t["wall_time_s"] is None else f"{t['wall_time_s'] / 60:.1f} min"
    rows = [("Keras float", s["float"]), ("fp32 .tflite", s["fp32_tflite"]), ("INT8 .tflite", s["int8"])]
    lines = [
        f"# {card['name']}: {card['model']} on {d['name']}",
        "",
        f"`{card['model']}` (width {card['width']:g}) at {h}x{w}x{c}, trained with `train.py` and exported with "
        f"`python -m deploy` to a full-integer INT8 LiteRT file ({size['int8_bytes'] / 1024:.0f} KB). "
        f"Input: {norm_text}, "
        f"fit `{card['preprocessing']['fit']}`; foreground where the probability exceeds "
        f"{card['preprocessing']['threshold']:g}. The `.json` beside each `.tflite` holds this preprocessing, and "
        "`predict.py` reads it.",
        "",
        "## Try it",
        "",
        "```bash",
        card["commands"]["predict"],
        "```",
        "",
        f"The sample image `{card['sample']['image']}` is from {card['sample']['from']}. Licence: "
        f"{card['sample']['licence'].rstrip('.')}.",
        "",
        "## Scores",
        "",
        f"On the {s['images']} images of the recorded {s['split']} split (`split.json`, {split_words}), at model "
        f"resolution, pixels pooled over all images, threshold {s['threshold']:g}. Dice = F1 of the foreground; "
        "r.w. = recall-weighted (x recall, paper 002).",
        "",
        "| variant | Dice | IoU | precision | recall | r.w. F1 | r.w. IoU | mean per-image Dice |",
        "|---|---|---|---|---|---|---|---|",
        *[f"| {n} | {_pct(v.get('f1'))} | {_pct(v.get('iou'))} | {_pct(v.get('precision'))} | {_pct(v.get('recall'))} "
          f"| {_pct(v.get('rw_f1'))} | {_pct(v.get('rw_iou'))} | {_pct(v.get('image_mean_f1'))} |" for n, v in rows],
        "",
        f"INT8 Dice drop: {s['int8_dice_drop_points']} points.",
    ]
    if s.get("float_original_size"):
        o = s["float_original_size"]
        lines += ["", f"train.py's `metrics.json` scores the same test images at their original size (the prediction "
                  f"resized back, the mask as stored): float Dice {_pct(o.get('f1'))}, IoU {_pct(o.get('iou'))}, "
                  f"r.w. F1 {_pct(o.get('rw_f1'))}, r.w. IoU {_pct(o.get('rw_iou'))}."]
    lines += _fold_lines(card)
    if card.get("paper"):
        lines += _paper_lines(card)
    lines += [
        "",
        "## Deployment",
        "",
        "| | fp32 .tflite | INT8 .tflite |",
        "|---|---|---|",
        f"| file size | {size['fp32_bytes']:,} B | {size['int8_bytes']:,} B |",
        f"| gzip size | {size['fp32_gzip_bytes']:,} B | {size['int8_gzip_bytes']:,} B |",
        f"| LiteRT latency ({lat['threads']} threads, {lat['input']}) | {lat['fp32']:.1f} ms | {lat['int8']:.1f} ms |",
        "",
        f"- TFLite-Micro (INT8): tensor arena {tflm.get('arena_bytes', 0) / 1024:.0f} KB "
        f"({'fits' if tflm.get('fits_ram') else 'over'} the {tflm.get('ram_budget', 0) / 1024:.0f} KB budget), flash "
        f"{tflm.get('flash_bytes', 0) / 1024:.0f} KB; output within {tflm.get('max_diff_vs_litert_ref')} "
        "quantization steps of LiteRT's reference kernels." if "arena_bytes" in tflm else
        f"- TFLite-Micro: {tflm.get('error', 'not checked')}",
        f"- Edge TPU: {etpu.get('mapped')} of {etpu.get('ops')} ops mappable"
        f"{'' if not etpu.get('first_fallback') else ', CPU from ' + str(etpu['first_fallback'])} "
        f"({etpu.get('note', 'static check')}"
        f"{'; compiled' if etpu.get('compiled') else '; not compiled: ' + etpu['reason'] if etpu.get('reason') else ''}).",
        "- Measured on the training machine (below), sharing its cores with other jobs: latencies are indicative.",
        "",
        "## Data",
        "",
        f"- **{d['title']}**, read from `{d['path']}` ({'foreground black in the masks: `--mask-invert`' if d['mask_invert'] else 'foreground white in the masks'}).",
        f"- Licence: {d['licence']}",
        f"- Citation: {d['citation']}",
        f"- Taken from: {d['taken_from']}",
        *([f"- Test data: **{d['test']['title']}**, read from `{d['test']['path']}` (`--test-data`); every usable "
           f"pair is a test image.", f"- Its licence: {d['test']['licence']}", f"- Its citation: {d['test']['citation']}",
           f"- Taken from: {d['test']['taken_from']}"] if d.get("test") else []),
        f"- Split: `split.json` (file names, written by train.py before training; seed {split['seed']}): "
        f"{split['images']['train']} train, {split['images']['val']} val, {split['images']['test']} test images"
        f"{' (test: ' + d['test']['name'] + ')' if d.get('test') else ''}.",
        "",
        "## Reproduce",
        "",
        "```bash",
        card["commands"]["train"],
        card["commands"]["deploy"],
        "```",
        "",
        f"Training budget: {t['epochs']} epochs ({t['epochs_run']} run), batch {t['batch_size']}, loss "
        f"`{t['loss']}`, {t['optimizer']} lr {t['lr']:g} ({t['lr_schedule']}), augmentation "
        f"{'on' if t['augment'] else 'off'}{', recipe `' + t['recipe'] + '`' if t['recipe'] else ''}; the checkpoint "
        f"with the best validation Dice is exported. Wall time {minutes} on {t['nproc']} CPU cores "
        f"({t['cpu_model']}){'; ' + t['machine_note'] if t['machine_note'] else ''}. A longer budget scores higher; "
        "these are small CPU runs, not the papers' budgets.",
        "",
        "## Files",
        "",
        *[f"- `{v}`" for v in card["files"].values()],
        f"- `{CARD_FILE}`: this card, machine-readable (`tests/test_shipped_models.py` re-scores the INT8 file on "
        "the recorded test split and checks its Dice).",
    ]
    if card["notes"]:
        lines += ["", "## Notes", "", *[f"- {n}" for n in card["notes"]]]
    return "\n".join(lines) + "\n"


def _copy(src: Path, dst: Path) -> None:
    """The bytes only: the dataset's read-only (or executable) mode bits are not the shipped file's."""
    shutil.copyfile(src, dst)
    os.chmod(dst, 0o644)


def write(card: dict, run_dir, deploy_dir, out_dir=None, data_root=None) -> Path:
    """Copy the shipped files into `out_dir` (default tflite_models/<name>) and write card.json and README.md."""
    run_dir, deploy_dir = Path(run_dir), Path(deploy_dir)
    out = Path(out_dir) if out_dir else SHIPPED / card["name"]
    (out / "sample").mkdir(parents=True, exist_ok=True)
    data_root = Path(data_root) if data_root else ROOT.parent / "shared" / "data" / card["dataset"]["name"]
    sample_root = data_root.parent / card["dataset"]["test"]["name"] if card["dataset"].get("test") else data_root
    for role, rel in card["files"].items():
        if role in ("split", "config"):
            _copy(run_dir / rel, out / rel)
        elif role == "sample":
            _copy(sample_root / "images" / Path(rel).name, out / rel)
        else:
            _copy(deploy_dir / rel, out / rel)
    (out / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n")
    (out / "README.md").write_text(card_markdown(card))
    return out


def shipped_cards(root: Path = SHIPPED) -> dict:
    """{folder name: card} of every shipped model (`tflite_models/*/card.json`)."""
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(Path(root).glob(f"*/{CARD_FILE}"))}


def main(argv=None) -> int:
    p = OneLineParser(prog="python -m deploy.model_card", description=__doc__.split("\n\n")[0])
    p.add_argument("run", help="train.py run folder")
    p.add_argument("deploy_dir", help="folder `python -m deploy RUN --output` wrote (report.json, .tflite files)")
    p.add_argument("--name", required=True, help="tflite_models/<name>")
    p.add_argument("--dataset", required=True, help="folder name in ../shared/data")
    p.add_argument("--train-command", required=True)
    p.add_argument("--deploy-command", required=True)
    p.add_argument("--train-seconds", type=float, help="wall time of training (default: from the run's file times)")
    p.add_argument("--machine-note", default="")
    p.add_argument("--paper", help="JSON file: {text, rows: [{what, rw_f1, rw_iou, f1, iou, data}], optional columns "
                                   "(score keys shown, default rw_f1 rw_iou f1 iou), headers, our_data}")
    p.add_argument("--fold-report", action="append", default=[], metavar="DEPLOY_DIR",
                   help="for a --folds run: the deploy folder of each fold (python -m deploy RUN --fold K), the "
                        "shipped one included; adds every fold's scores and their mean")
    p.add_argument("--note", action="append", default=[])
    p.add_argument("--output", help="default tflite_models/<name>")
    quiet.add_verbose_flag(p)
    a = p.parse_args(argv)
    paper = json.loads(Path(a.paper).read_text()) if a.paper else None
    card = build_card(a.run, a.deploy_dir, name=a.name, dataset=a.dataset, train_command=a.train_command,
                      deploy_command=a.deploy_command, train_seconds_override=a.train_seconds, paper=paper,
                      notes=a.note, machine_note=a.machine_note, fold_reports=a.fold_report)
    print(write(card, a.run, a.deploy_dir, a.output))
    return 0


if __name__ == "__main__":
    raise SystemExit(quiet.entry_point(main))
