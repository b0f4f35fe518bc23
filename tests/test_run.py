"""The run record (zoo.training.run): config.json and split.json are written before training and every
later command reads them. Deploy scores exactly the recorded test split, even when the data check
skipped a pair that a re-scan of the folder would count; a broken record is one line naming the key."""
import json
import shutil

import pytest

import train
from conftest import SAMPLE_DATA
from deploy.__main__ import main as deploy_main
from zoo.training.run import Run, RunConfig, RunError, write_split

FAST = ["--model", "quarter_multiresunet", "--image-size", "32", "--epochs", "1", "--batch-size", "4",
        "--histogram-freq", "0", "--cache", "none", "--no-augment"]


def _dataset_with_one_bad_pair(root, n=20):
    """n sample pairs plus `000.png`, an undecodable image sorted first: the data check skips it, while a
    plain re-scan of the folder (find_pairs) counts it and shifts every seeded split."""
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True)
        for p in sorted((SAMPLE_DATA / sub).glob("*.png"))[:n]:
            shutil.copy(p, root / sub / p.name)
    (root / "images" / "000.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not an image" * 10)
    shutil.copy(root / "masks" / "001.png", root / "masks" / "000.png")
    return root


def test_deploy_scores_exactly_the_recorded_test_split(tmp_path, capsys):
    data = _dataset_with_one_bad_pair(tmp_path / "data")
    assert train.main([*FAST, "--data", str(data), "--output", str(tmp_path / "runs"), "--name", "r"]) == 0
    run_dir = tmp_path / "runs" / "r"
    assert "skipped" in capsys.readouterr().err  # the data check left 000.png out
    split = json.loads((run_dir / "split.json").read_text())["splits"][""]
    test_names = [image for image, _ in split["test"]]
    train_names = {image for image, _ in split["train"]}
    assert test_names and "000.png" not in {i for part in split.values() for i, _ in part}

    out = tmp_path / "export"
    assert deploy_main([str(run_dir), "--quantize", "int8", "--output", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["scored_images"] == test_names and report["eval_images"] == len(test_names)
    assert not train_names & set(report["scored_images"])
    assert (report["eval_split"], report["split_source"], report["run"]) == ("test", "split.json", str(run_dir))

    # The record is what later commands read: a recorded image that is gone is one line, not a re-split.
    (data / "images" / test_names[0]).unlink()
    assert deploy_main([str(run_dir), "--output", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and test_names[0] in err[0] and "recorded in" in err[0]


def _recorded_run(tmp_path, **changes):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text(RunConfig(data=str(SAMPLE_DATA), **changes).to_json())
    return run_dir


def test_a_run_without_split_json_is_rebuilt_from_pairs_json_with_a_note(tmp_path):
    run_dir = _recorded_run(tmp_path, seed=3)
    pairs = [[p.name, p.name] for p in sorted((SAMPLE_DATA / "images").glob("*.png"))][:10]
    (run_dir / "pairs.json").write_text(json.dumps(pairs))
    run = Run.load(run_dir)
    assert "pairs.json" in run.split_note and "seed 3" in run.split_note
    train_, val, test = run.splits[""]
    assert sorted(p[0].name for part in (train_, val, test) for p in part) == [p[0] for p in pairs]
    assert len(test) == 2 and len(val) == 1  # RunConfig's 0.2 / 0.1 of 10 pairs
    write_split(run_dir, run.splits)
    again = Run.load(run_dir)
    assert again.split_note is None and again.splits == run.splits


@pytest.mark.parametrize("text,message", [
    ('{"model": "unet", "epochs": 3', "not valid JSON (truncated or edited?)"),
    ('[1, 2]', "expected a JSON object of settings, got list"),
    ('{"epochs": "ten"}', "key 'epochs': expected an integer, got \"ten\""),
    ('{"lr": true}', "key 'lr': expected a finite number, got true"),
    ('{"image_size": [256]}', "key 'image_size': expected [height, width] in pixels"),
    ('{"augment": 1}', "key 'augment': expected true or false, got 1"),
    ('{"model_args": [1]}', "key 'model_args': expected an object"),
    ('{"loss": "dcie"}', "--loss: unknown value 'dcie'"),
    ('{"model": "no_such_model"}', "--model: unknown model 'no_such_model'"),
    ('{"epochs": 0}', "--epochs and --batch-size must be at least 1"),
])
def test_a_broken_config_json_is_one_line_naming_the_key(tmp_path, text, message):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text(text)
    with pytest.raises(RunError) as e:
        Run.load(run_dir)
    assert message in str(e.value) and str(run_dir / "config.json") in str(e.value)
    assert "\n" not in str(e.value)


def test_a_broken_split_json_is_one_line(tmp_path):
    run_dir = _recorded_run(tmp_path)
    (run_dir / "split.json").write_text('{"splits": {"": {"train": [["a.png"]]}}}')
    with pytest.raises(RunError, match="not a split record"):
        Run.load(run_dir)


def test_config_round_trips_and_older_encoder_key_names_the_pair():
    cfg = RunConfig(model="unet_resnet18", image_size=(64, 96), loss_args={"alpha": 0.3})
    assert RunConfig.from_dict(json.loads(cfg.to_json())) == cfg
    old = RunConfig.from_dict({"model": "fpn", "encoder": "mobilenetv3_small"})
    assert old.model == "fpn_mobilenetv3_small"
    assert RunConfig.from_dict({"future_setting": 1}) == RunConfig()  # unknown keys: a newer version's run


def _locked_run(tmp_path, pid):
    run_dir = _recorded_run(tmp_path, model="quarter_multiresunet", image_size=(32, 32))
    (run_dir / "run.lock").write_text(f"{pid}\n")
    return run_dir


def test_a_run_in_use_is_refused_in_one_line_and_a_dead_lock_is_taken_over(tmp_path, capsys):
    run_dir = _locked_run(tmp_path, 1)  # process 1 is always alive
    for argv in (["--resume", str(run_dir)],
                 [*FAST, "--data", str(SAMPLE_DATA), "--output", str(tmp_path), "--name", "run", "--overwrite"]):
        assert train.main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "in use by another train.py (process 1)" in err[0], err
    assert (run_dir / "config.json").is_file()  # --overwrite did not remove the run in use

    from zoo.training.run import acquire_lock, release_lock

    (run_dir / "run.lock").write_text("999999999\n")  # no such process: a killed run's lock
    acquire_lock(run_dir)
    assert (run_dir / "run.lock").read_text().split()[0] == str(__import__("os").getpid())
    release_lock(run_dir)
    assert not (run_dir / "run.lock").exists()


@pytest.mark.parametrize("flags,message", [
    (["--lr", "nan"], "--lr must be a positive finite number"),
    (["--lr", "inf"], "--lr must be a positive finite number"),
    (["--lr", "-1"], "--lr must be a positive finite number"),
    (["--lr", "0"], "--lr must be a positive finite number"),
    (["--seed", "-1"], "--seed and --histogram-freq must be 0 or more"),
    (["--histogram-freq", "-1"], "--seed and --histogram-freq must be 0 or more"),
    (["--name", "../elsewhere"], "--name is a folder name inside --output"),
    (["--max-pixels", "-5"], "--max-pixels must be 0 (no limit) or more"),
])
def test_numbers_and_names_that_cannot_work_write_nothing(tmp_path, capsys, flags, message):
    with pytest.raises(SystemExit) as e:
        train.main([*FAST, "--output", str(tmp_path / "runs"), *flags])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1 and message in err[0], err
    assert not (tmp_path / "runs").exists() and not (tmp_path / "elsewhere").exists()


def _copy_pairs(root, names):
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True)
        for name in names:
            shutil.copy(SAMPLE_DATA / sub / name, root / sub / name)
    return root


def test_test_data_is_the_whole_test_split_and_every_command_reads_it(tmp_path, capsys):
    names = sorted(p.name for p in (SAMPLE_DATA / "images").glob("*.png"))[:16]
    data, other = _copy_pairs(tmp_path / "data", names[:10]), _copy_pairs(tmp_path / "other", names[10:])
    assert train.main([*FAST, "--data", str(data), "--test-data", str(other), "--output", str(tmp_path / "runs"),
                       "--name", "r"]) == 0
    run_dir = tmp_path / "runs" / "r"
    split = json.loads((run_dir / "split.json").read_text())["splits"][""]
    assert sorted(i for i, _ in split["test"]) == names[10:]
    assert sorted(i for part in ("train", "val") for i, _ in split[part]) == names[:10]
    run = Run.load(run_dir)
    assert run.config.test_data == str(other) and {p.parent.parent for pair in run.splits[""].test for p in pair} == {other}
    assert {p.parent.parent for pair in run.splits[""].train for p in pair} == {data}

    out = tmp_path / "export"
    assert deploy_main([str(run_dir), "--quantize", "int8", "--output", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert sorted(report["scored_images"]) == names[10:] and report["eval_split"] == "test"


@pytest.mark.parametrize("flags,message", [
    (["--folds", "5"], "--test-data gives one fixed test set; it does not combine with --folds"),
    ([], "missing"),
])
def test_test_data_that_cannot_work_is_one_line(tmp_path, capsys, flags, message):
    missing = tmp_path / "missing"
    code = None
    try:
        code = train.main([*FAST, "--test-data", str(missing), "--output", str(tmp_path / "runs"), *flags])
    except SystemExit as e:
        code = e.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0], err
    assert not (tmp_path / "runs").exists()
