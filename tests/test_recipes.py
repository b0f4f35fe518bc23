"""Paper recipes: every recipe in recipes/ checks out against train.py's flags and the live
model registry and loss catalogue; flags given override a recipe (even when they equal train.py's own
defaults); a recipe's builder/loss arguments follow its model/loss; bad recipes are one line naming the
file and the key; a run records the recipe in config.json; paper 002's recipe trains end to end."""
import json

import pytest
import yaml

import train
from conftest import SAMPLE_DATA, shared_dataset
from zoo.tools import recipes

EXPECTED = ["paper000_polyp", "paper001_cells", "paper002_microplastics", "paper003_skin", "paper004_skin"]
SAMPLE = ["--data", str(SAMPLE_DATA)]


def _problems(name):
    return recipes.recipe_problems(recipes.read_recipe(name), train.build_parser())


def test_the_five_paper_recipes_exist():
    assert recipes.list_recipes() == EXPECTED


@pytest.mark.parametrize("name", EXPECTED)
def test_every_recipe_checks_out(name):
    problems = _problems(name)
    assert not problems, "\n".join(map(str, problems))


@pytest.mark.parametrize("name", EXPECTED)
def test_every_setting_says_paper_or_choice_and_names_its_dataset(name):
    r = recipes.read_recipe(name)
    for key, entry in r.settings.items():
        assert entry.get("paper") or entry.get("chosen"), key
    assert r.paper and r.title
    folder = r.dataset["folder"]
    assert folder in (None, "kvasir_seg", "cvc_clinicdb", "dsb2018_nuclei", "mpset_microplastics")
    assert (folder is None) == name.endswith("_skin")  # ISIC / PH2 are not on this machine


def test_flags_override_the_recipe_even_at_train_py_defaults():
    cfg, _ = train.parse_args(["--recipe", "paper002_microplastics", "--epochs", "8", "--lr", "0.01", *SAMPLE])
    assert (cfg.epochs, cfg.lr) == (8, 0.01)  # 8 is train.py's own default; the recipe says 150
    assert (cfg.model, cfg.loss, cfg.optimizer, cfg.lr_schedule) == ("half_multiresunet", "weighted_bce", "adam",
                                                                      "exponential")
    assert (cfg.folds, cfg.val_fraction, cfg.mask_invert, cfg.augment, cfg.image_size) == (5, 0.1, True, True,
                                                                                           (256, 256))
    rec = cfg.recipe
    assert rec["name"] == "paper002_microplastics" and rec["file"] == "recipes/paper002_microplastics.yaml"
    assert rec["values"]["epochs"] == 150 and rec["values"]["image_size"] == [256, 256]
    assert rec["overridden"] == {"epochs": 8, "lr": 0.01, "data": str(SAMPLE_DATA)}
    cfg, _ = train.parse_args(["--recipe", "paper002_microplastics", "--no-mask-invert", "--no-augment",
                               "--image-size", "64x96", *SAMPLE])
    assert (cfg.mask_invert, cfg.augment, cfg.image_size) == (False, False, (64, 96))
    assert train.parse_args(SAMPLE)[0].recipe is None


def test_builder_arguments_follow_the_recipes_model(capsys):
    cfg, _ = train.parse_args(["--recipe", "paper001_cells", *SAMPLE])
    assert cfg.model == "unet" and cfg.model_args == {"filters": [64, 128, 256, 512, 1024]}
    assert (cfg.loss, cfg.optimizer, cfg.lr, cfg.epochs, cfg.batch_size, cfg.augment) == (
        "bce_jaccard", "rmsprop", 1e-4, 40, 8, False)
    cfg, _ = train.parse_args(["--recipe", "paper001_cells", "--model-arg", "filters=(8,16,32,64,128)",
                               "--model-arg", "relu_each_conv=False", *SAMPLE])
    assert cfg.model_args == {"filters": (8, 16, 32, 64, 128), "relu_each_conv": False}
    cfg, _ = train.parse_args(["--recipe", "paper001_cells", "--model", "half_unet", *SAMPLE])
    assert cfg.model_args == {} and cfg.recipe["overridden"]["model_args"] == {}
    assert "not using its model_args (for model unet, not --model half_unet)" in capsys.readouterr().err


def _recipe_file(tmp_path, edit=None, text_edit=None, name="paper002_microplastics"):
    text = (recipes.RECIPES_DIR / f"{name}.yaml").read_text()
    if text_edit:
        text = text_edit(text)
    if edit:
        doc = yaml.safe_load(text)
        edit(doc)
        text = yaml.safe_dump(doc, sort_keys=False)
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def _set(key, value):
    def edit(doc):
        doc["settings"][key] = {"value": value, "chosen": "test"}
    return edit


@pytest.mark.parametrize("edit,text_edit,message", [
    (_set("lrr", 0.1), None, "settings.lrr: unknown setting: train.py has no --lrr flag (did you mean 'lr'?)"),
    (_set("epochs", "ten"), None, "settings.epochs: expected an integer, got 'ten'"),
    (_set("lr", True), None, "settings.lr: expected"),
    (_set("loss", "weighted_bc"), None, "settings.loss: unknown value 'weighted_bc'. Did you mean 'weighted_bce'?"),
    (_set("optimizer", "ranger"), None, "settings.optimizer: unknown value 'ranger'"),
    (_set("model", "half_multiresunt"), None, "settings.model: unknown model 'half_multiresunt'. Did you mean"),
    (_set("image_size", [256]), None, "settings.image_size: expected N or [H, W]"),
    (_set("epochs", 0), None, "settings: --epochs and --batch-size must be at least 1, got 0 and 4"),
    (_set("val_fraction", 1.5), None, "settings: --val-fraction and --test-fraction must be in [0, 1)"),
    (_set("data", "/somewhere"), None, "settings.data: not a recipe setting"),
    (_set("model_args", ["filters"]), None, "settings.model_args: expected a mapping"),
    (lambda d: d["settings"]["lr"].pop("paper"), None, "settings.lr: say where the value comes from"),
    (lambda d: d.pop("dataset"), None, "dataset: missing"),
    (lambda d: d.update(name="other"), None, "name: 'other' differs from the file name"),
    (lambda d: d.update(extra=1), None, "extra: unknown key"),
    (None, lambda t: t.replace("  lr:\n", "  lr:\n    value: 0.1\n  lr:\n", 1), "key 'lr' appears twice"),
    (None, lambda t: t.replace("settings:", "settings: [", 1), "not valid YAML (line"),
])
def test_bad_recipes_give_one_line_naming_the_file_and_key(tmp_path, capsys, edit, text_edit, message):
    path = _recipe_file(tmp_path, edit, text_edit)
    with pytest.raises(SystemExit) as e:
        train.main(["--recipe", str(path), *SAMPLE, "--output", str(tmp_path / "runs")])
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith(f"error: --recipe: {path}: ") and message in err, err
    assert not (tmp_path / "runs").exists()


def test_unknown_recipe_and_missing_dataset(tmp_path, capsys):
    with pytest.raises(SystemExit):
        train.parse_args(["--recipe", "paper02_microplastics"])
    assert "unknown recipe 'paper02_microplastics'. Did you mean 'paper002_microplastics'?" in capsys.readouterr().err
    no_data = _recipe_file(tmp_path, lambda d: d["dataset"].update(folder=None, name="ISIC 2018"))
    with pytest.raises(SystemExit):
        train.parse_args(["--recipe", str(no_data)])
    err = capsys.readouterr().err
    assert f"{no_data}: dataset: ISIC 2018 is not on this machine; pass --data FOLDER" in err
    assert train.parse_args(["--recipe", str(no_data), *SAMPLE])[0].data == str(SAMPLE_DATA)
    absent = _recipe_file(tmp_path, lambda d: d["dataset"].update(folder="no_such_set"))
    with pytest.raises(SystemExit):
        train.parse_args(["--recipe", str(absent)])
    assert "dataset.folder: " in capsys.readouterr().err


def test_recipe_conflicts_with_resume(tmp_path, capsys):
    (tmp_path / "config.json").write_text(json.dumps({"model": "half_multiresunet"}))
    with pytest.raises(SystemExit):
        train.parse_args(["--resume", str(tmp_path), "--recipe", "paper002_microplastics"])
    assert "--recipe conflicts with --resume" in capsys.readouterr().err


def test_list_recipes(capsys):
    assert train.main(["--list-recipes"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:-1]}
    assert sorted(rows) == EXPECTED
    assert "half_multiresunet" in rows["paper002_microplastics"] and "mpset_microplastics" in rows["paper002_microplastics"]
    assert "unet" in rows["paper001_cells"] and "dsb2018_nuclei" in rows["paper001_cells"]
    assert "kvasir_seg" in rows["paper000_polyp"]
    for name in ("paper003_skin", "paper004_skin"):  # ISIC / PH2 are not on this machine: the row says --data
        assert "(--data:" in rows[name] and "not runnable here" not in rows[name]


def _tiny_recipe_run(out, name, *extra):
    code = train.main(["--recipe", name, "--epochs", "1", "--image-size", "32", "--histogram-freq", "0",
                       "--output", str(out), "--name", name, *extra])
    assert code == 0
    return json.loads((out / name / "config.json").read_text())


def test_paper002_recipe_trains_end_to_end(tmp_path):
    """The recipe's training (weighted BCE, Adam, exponential decay, 5 folds, augmentation), shrunk: 1 epoch
    at 32x32, fold 0 only, on the bundled sample (white foreground), Quarter MultiResUNet for speed (graph
    tracing dominates; the slow test below runs the recipe's Half MultiResUNet on all folds of MP-Set)."""
    cfg = _tiny_recipe_run(tmp_path, "paper002_microplastics", "--fold", "0", "--no-mask-invert",
                           "--model", "quarter_multiresunet", *SAMPLE)
    assert (cfg["loss"], cfg["optimizer"], cfg["lr"], cfg["lr_schedule"], cfg["folds"], cfg["fold"], cfg["augment"]) \
        == ("weighted_bce", "adam", 1e-3, "exponential", 5, 0, True)
    assert cfg["recipe"]["overridden"] == {"model": "quarter_multiresunet", "epochs": 1, "image_size": [32, 32],
                                           "mask_invert": False, "data": str(SAMPLE_DATA)}
    metrics = json.loads((tmp_path / "paper002_microplastics" / "metrics.json").read_text())
    assert set(metrics) == {"fold0", "mean"} and metrics["fold0"]["images"] == 8  # 40 pairs / 5 folds
    assert 0 <= metrics["mean"]["pooled_rw_f1"] <= 1


@pytest.mark.slow
def test_paper002_recipe_all_folds_on_mpset(tmp_path):
    data = shared_dataset("mpset_microplastics")
    cfg = _tiny_recipe_run(tmp_path, "paper002_microplastics")
    assert cfg["data"] == str(data) and cfg["mask_invert"] is True and cfg["model"] == "half_multiresunet"
    metrics = json.loads((tmp_path / "paper002_microplastics" / "metrics.json").read_text())
    assert set(metrics) == {f"fold{k}" for k in range(5)} | {"mean"}


@pytest.mark.slow
def test_paper001_recipe_trains_on_dsb2018(tmp_path):
    shared_dataset("dsb2018_nuclei")
    cfg = _tiny_recipe_run(tmp_path, "paper001_cells", "--model-arg", "filters=(8,16,32,64,128)")
    assert (cfg["model"], cfg["loss"], cfg["optimizer"], cfg["batch_size"]) == ("unet", "bce_jaccard", "rmsprop", 8)
    assert json.loads((tmp_path / "paper001_cells" / "metrics.json").read_text())["images"] > 0
