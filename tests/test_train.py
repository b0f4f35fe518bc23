"""train.py end to end on the bundled real microplastic sample: the loss falls, every conv kernel
gets a histogram each epoch in the TensorBoard event file, grouped by stage in network order, the training
split is scored in inference mode beside the validation split, the stage analysis is written, and the run
folder is complete."""
import csv
import json
import subprocess
import sys

import pytest
import tf_keras as keras
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import train
import zoo
from conftest import ROOT


def _tags(log_dir):
    acc = EventAccumulator(str(log_dir), size_guidance={"tensors": 0})
    acc.Reload()
    return acc


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    code = train.main(["--model", "half_multiresunet", "--image-size", "128", "--epochs", "3", "--batch-size", "4",
                       "--output", str(out), "--name", "short"])
    assert code == 0
    return out / "short"


def test_run_folder_is_complete(short_run):
    for name in ("config.json", "best.keras", "last.keras", "metrics.json", "history.csv"):
        assert (short_run / name).is_file(), name
    cfg = json.loads((short_run / "config.json").read_text())
    assert cfg["model"] == "half_multiresunet" and cfg["image_size"] == [128, 128]
    metrics = json.loads((short_run / "metrics.json").read_text())
    assert metrics["split"] == "test" and metrics["images"] == 8
    assert 0 <= metrics["pooled_recall"] <= 1 and "image_mean_f1" in metrics
    model = keras.models.load_model(short_run / "best.keras")  # custom loss/metrics deserialize
    assert model.count_params() == metrics["params"]


def test_training_lowers_the_loss(short_run):
    with open(short_run / "history.csv") as f:
        losses = [float(row["loss"]) for row in csv.DictReader(f)]
    assert len(losses) == 3 and losses[-1] < losses[0]


def test_every_conv_kernel_has_a_histogram_each_epoch(short_run):
    acc = _tags(short_run / "tb" / "train")
    tags = set(acc.Tags()["tensors"])
    model = zoo.build_model("half_multiresunet", input_shape=(128, 128, 3))
    convs = [l.name for l in model.layers if isinstance(l, keras.layers.Conv2D)]
    assert len(convs) == 1 + 5 * 4 + 2 * 4 * 2 + 1  # stem, 5 MRBs, 2 Res paths of 4, head
    histograms = {t: acc.SummaryMetadata(t).summary_description for t in tags if "/" in t}
    layers = {d.split()[0].removeprefix("layer="): t for t, d in histograms.items()}
    assert sorted(layers) == sorted(convs)  # kernels only by default: no BatchNorm, 38 tags
    assert all(d.split()[1] == "weight=kernel" for d in histograms.values())
    for name, tag in layers.items():
        assert [e.step for e in acc.Tensors(tag)] == [0, 1, 2], tag
    assert layers["stage1_mrb_m2_conv"] == "03_stage1/mrb_m2"
    groups = sorted({t.split("/")[0] for t in histograms})  # TensorBoard's order: alphabetical
    assert groups == ["01_stem", "02_stage0", "03_stage1", "04_stage4", "05_stage7", "06_stage8", "07_respath0",
                      "08_respath1", "09_head"]
    assert {"epoch_loss", "epoch_dice", "epoch_learning_rate"} <= tags
    validation = set(_tags(short_run / "tb" / "validation").Tags()["tensors"])
    assert {"epoch_loss", "epoch_dice"} <= validation
    assert not [t for t in validation if t.startswith("evaluation_")]  # no second copy against the step
    images = _tags(short_run / "tb" / "images")
    (tag,) = images.Tags()["tensors"]
    assert len(images.Tensors(tag)) == 3


def test_training_split_is_scored_in_inference_mode(short_run):
    with open(short_run / "history.csv") as f:
        rows = list(csv.DictReader(f))
    for key in ("train_eval_loss", "train_eval_dice", "train_eval_precision", "train_eval_recall"):
        assert all(0 <= float(r[key]) for r in rows) and key in rows[0], key
    assert all(float(r["train_eval_dice"]) <= 1 for r in rows)
    train_eval = _tags(short_run / "tb" / "train_eval")  # same tags as train and validation: one chart each
    assert [e.step for e in train_eval.Tensors("epoch_dice")] == [0, 1, 2]
    assert "epoch_train_eval_dice" not in _tags(short_run / "tb" / "train").Tags()["tensors"]


def test_a_default_run_writes_the_stage_analysis(short_run):
    report = json.loads((short_run / "analysis" / "report.json").read_text())
    assert report["sources"]["epochs"] == [1, 2, 3] and len(report["kernels"]) == 38
    for name in ("ridges.png", "stages.png", "trends.png", "report.md"):
        assert (short_run / "analysis" / name).is_file(), name
    analysis = _tags(short_run / "tb" / "analysis").Tags()["tensors"]
    assert {"kernel_analysis/ridges", "kernel_analysis/trends"} <= set(analysis)


def test_list_models_prints_paper_figures(capsys):
    assert train.main(["--list-models"]) == 0
    out = capsys.readouterr().out
    for name in ("unet", "half_unet", "multiresunet", "half_multiresunet", "quarter_multiresunet"):
        assert name in out
    assert "0.2149M" in out and "21.9B" in out


@pytest.mark.parametrize("args,message", [
    (["--model", "half_multiresunt"], "Did you mean 'half_multiresunet'"),
    (["--image-size", "abc"], "--image-size expects"),
    (["--fold", "3"], "--fold 3 needs --folds"),
    (["--data", "/nonexistent/set", "--epochs", "1"], "/nonexistent/set: folder not found"),
])
def test_bad_arguments_give_one_line_and_exit_2(args, message):
    proc = subprocess.run([sys.executable, str(ROOT / "train.py"), *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
