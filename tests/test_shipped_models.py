"""The trained models shipped in tflite_models/<name>/: each card's files and fields, its INT8 Dice re-measured on
the recorded test split, and its one-line predict.py example on the bundled sample image."""
import json
import shlex
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, shared_dataset

from deploy.model_card import CARD_FILE, SHIPPED, shipped_cards

CARDS = shipped_cards(SHIPPED)
FIELDS = ("name", "model", "input_shape", "preprocessing", "dataset", "split", "commands", "training", "scores", "size",
          "latency_ms", "tflm", "edgetpu", "files", "sample")


def test_models_are_shipped():
    assert CARDS, f"no {SHIPPED.name}/*/{CARD_FILE}"


@pytest.mark.parametrize("name", sorted(CARDS))
def test_card_fields_and_files(name):
    folder, card = SHIPPED / name, CARDS[name]
    assert not [f for f in FIELDS if f not in card]
    assert card["name"] == name
    for rel in card["files"].values():
        assert (folder / rel).is_file(), f"{folder / rel} listed in {CARD_FILE} but missing"
    assert (folder / "README.md").is_file()
    int8 = folder / card["files"]["int8"]
    assert int8.stat().st_size == card["size"]["int8_bytes"]
    sidecar = json.loads((folder / card["files"]["int8_sidecar"]).read_text())
    assert sidecar["file"] == int8.name and sidecar["preprocessing"] == card["preprocessing"]
    split = json.loads((folder / "split.json").read_text())["splits"][card["split"]["key"]]
    assert {k: len(v) for k, v in split.items()} == card["split"]["images"]
    assert card["scores"]["images"] == len(split[card["scores"]["split"]])
    for variant in ("float", "int8"):
        s = card["scores"][variant]
        assert 0 <= s["f1"] <= 1 and s["rw_f1"] == pytest.approx(s["f1"] * s["recall"], abs=1e-4)
    for key in ("epochs", "wall_time_s", "nproc", "cpu_model"):
        assert card["training"][key]
    assert card["commands"]["train"].startswith("python train.py ") and "--output" in card["commands"]["train"]
    assert card["commands"]["deploy"].startswith("python -m deploy ")
    assert card["dataset"]["licence"]
    assert card["size"]["int8_bytes"] < 2 << 20 and sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) < 5 << 20


@pytest.mark.parametrize("name", sorted(n for n in CARDS if CARDS[n]["scores"].get("all_folds")))
def test_fold_scores_and_their_mean(name):
    card = CARDS[name]
    folds, mean = card["scores"]["all_folds"]["folds"], card["scores"]["all_folds"]["mean"]
    assert len(folds) == card["split"]["folds"] and card["split"]["key"] in folds
    shipped = folds[card["split"]["key"]]
    assert shipped["images"] == card["scores"]["images"]
    assert shipped["int8"] == card["scores"]["int8"] and shipped["float"] == card["scores"]["float"]
    for variant in ("float", "int8"):
        for key in ("f1", "iou", "rw_f1", "rw_iou"):
            assert mean[variant][key] == pytest.approx(np.mean([f[variant][key] for f in folds.values()]), abs=1e-4)


@pytest.mark.parametrize("name", sorted(CARDS))
def test_int8_dice_on_recorded_test_split(name):
    from deploy.convert import LiteRTModel
    from zoo.training import data
    from zoo.training.metrics import evaluate_masks
    from zoo.training.run import RunConfig, read_split

    folder, card = SHIPPED / name, CARDS[name]
    root = shared_dataset(card["dataset"]["name"])
    test_root = shared_dataset(card["dataset"]["test"]["name"]) if card["dataset"].get("test") else None
    config = RunConfig.from_json(folder / "config.json")
    assert (config.test_data is None) == (test_root is None)
    cfg = config.data_config()
    split = read_split(folder, root, test_root)[card["split"]["key"]]
    pairs = getattr(split, card["scores"]["split"])
    images, y = data.load_arrays(pairs, cfg)
    model = LiteRTModel((folder / card["files"]["int8"]).read_bytes(), num_threads=2)
    prob = model.predict(data.normalize(images, cfg))
    dice = evaluate_masks(y, prob, threshold=card["scores"]["threshold"])["pooled_f1"]
    assert dice == pytest.approx(card["scores"]["int8"]["f1"], abs=0.005)


@pytest.mark.parametrize("name", sorted(CARDS))
def test_predict_example_runs_on_sample(name, tmp_path, monkeypatch):
    from deploy.predict import main

    card = CARDS[name]
    argv = shlex.split(card["commands"]["predict"])
    assert argv[:2] == ["python", "predict.py"]
    argv[argv.index("--output") + 1] = str(tmp_path / "out")
    monkeypatch.chdir(ROOT)
    assert main(argv[2:]) in (0, None)
    sample = Path(card["sample"]["image"])
    masks = list((tmp_path / "out" / "masks").glob(f"{sample.stem}.*"))
    assert masks, "predict.py wrote no mask for the sample image"
    import cv2

    mask = cv2.imread(str(masks[0]), cv2.IMREAD_GRAYSCALE)
    image = cv2.imread(str(SHIPPED / name / sample), cv2.IMREAD_UNCHANGED)
    assert mask.shape == image.shape[:2] and set(np.unique(mask)) <= {0, 255}


def test_fold_reports_give_each_fold_once_and_their_mean(tmp_path):
    from deploy.formats import variant_key
    from deploy.model_card import fold_scores

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "split.json").write_text(json.dumps({"splits": {"fold0": {}, "fold1": {}}}))
    dirs = []
    for k, f1 in ((0, 0.4), (1, 0.6)):
        scores = {"f1": f1, "iou": f1 / 2, "precision": 0.5, "recall": 0.5}
        folder = tmp_path / f"deploy{k}"
        folder.mkdir()
        (folder / "report.json").write_text(json.dumps({"fold": f"fold{k}", "run": str(run_dir), "eval_images": 3,
                                                        "variants": {"keras_float": {"scores": scores},
                                                                     variant_key("int8"): {"scores": scores}}}))
        dirs.append(folder)
    got = fold_scores(run_dir, dirs)
    assert list(got["folds"]) == ["fold0", "fold1"]
    assert got["mean"]["int8"]["f1"] == pytest.approx(0.5) and got["mean"]["float"]["rw_f1"] == pytest.approx(0.25)
    with pytest.raises(ValueError, match="expected one new fold"):
        fold_scores(run_dir, [dirs[0], dirs[0]])
    with pytest.raises(ValueError, match="the run has"):
        fold_scores(run_dir, dirs[:1])
