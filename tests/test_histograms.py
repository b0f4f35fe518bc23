"""Kernel-histogram analysis (zoo/tools/histograms.py, paper 002 section 4.5): a run whose chosen kernels are
driven to zero by a strong L2 penalty gets exactly those flagged and the paper's next cut suggested;
histogram tags group by stage in network order; a real train.py --analyze run gets its report and plots from the
event files."""
import json
import shutil

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras
from matplotlib.image import imread
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import train
import zoo
from zoo.tools import histograms
from zoo.training import callbacks

# Half MultiResUNet's stage 1 feature convs (the stage Quarter drops) and one Res path conv.
COLLAPSE = ["stage1_mrb_m1_conv", "stage1_mrb_m2_conv", "stage1_mrb_m3_conv", "respath0_2_conv3x3_conv"]
TINY = dict(zoo.get_model_entry("half_multiresunet").small)  # the registry's tiny variant of the same graph


@pytest.fixture(scope="module")
def collapsed_run(tmp_path_factory):
    """A run folder laid out like train.py's, trained with L2 = 10 * sum(w^2) on the COLLAPSE kernels only."""
    run = tmp_path_factory.mktemp("runs") / "collapse"
    run.mkdir()
    keras.utils.set_random_seed(0)
    model = zoo.build_model("half_multiresunet", input_shape=(32, 32, 3), **TINY)
    for name in COLLAPSE:
        kernel = model.get_layer(name).kernel
        model.add_loss(lambda k=kernel: 10.0 * tf.reduce_sum(tf.square(k)))
    model.compile(keras.optimizers.Adam(0.02), "binary_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.random((32, 32, 32, 3), np.float32)
    y = (x[..., :1] > 0.7).astype(np.float32)
    tensorboard = callbacks.ScalarTensorBoard(str(run / "tb"), write_graph=False)
    model.fit(x, y, batch_size=4, epochs=4, verbose=0,  # every weight: the analysis must pick out the kernels
              callbacks=[tensorboard, callbacks.WeightHistograms(tensorboard=tensorboard, what="all")])
    model.save(run / "last.keras")
    (run / "config.json").write_text(json.dumps({"model": "half_multiresunet", "model_args": TINY,
                                                 "image_size": [32, 32], "channels": 3, "epochs": 4}))
    keras.backend.clear_session()
    return run


def test_strong_l2_layers_and_only_those_are_flagged(collapsed_run):
    report = histograms.analyze_run(collapsed_run)
    data = json.loads((collapsed_run / "analysis" / "report.json").read_text())
    assert sorted(data["flagged"]) == sorted(COLLAPSE)
    assert data["collapsed_stages"] == ["stage1"]  # 3 of 3 feature convs; the Res path has 1 of 8
    assert data["suggestion"]["model"] == "quarter_multiresunet"
    kernels = {k["name"]: k for k in data["kernels"]}
    assert kernels["stage1_mrb_shortcut_conv"]["spread"] > 0.8  # the unpenalised shortcut keeps its spread
    assert all(len(k["std"]) == 4 and k["final_source"] == "last.keras" for k in kernels.values())
    for name in COLLAPSE:  # the histograms show the collapse epoch by epoch
        stds = kernels[name]["std"]
        assert stds[-1] < stds[0] and kernels[name]["final"]["near_zero"] > 0.5
    text = report.read_text()
    assert "below **0.5 sigma0**" in text and "quarter_multiresunet" in text
    assert all(f"`{name}`" in text.split("## Criterion")[0] for name in COLLAPSE)
    assert data["histogram_check"]["std_rel_error_max"] < 0.1  # bin-centre statistics vs exact weights


def test_histogram_tags_group_by_stage_in_network_order():
    model = zoo.build_model("half_multiresunet", input_shape=(32, 32, 3), **TINY)
    kernels = callbacks.histogram_tags(model, "half_multiresunet")
    tags = [t for t, _, _ in kernels]
    assert len(tags) == 38 and tags == sorted(tags)  # TensorBoard sorts alphabetically: that is network order
    groups = list(dict.fromkeys(t.split("/")[0] for t in tags))
    assert groups == ["01_stem", "02_stage0", "03_stage1", "04_stage4", "05_stage7", "06_stage8", "07_respath0",
                      "08_respath1", "09_head"]
    assert tags[1:5] == ["02_stage0/mrb_m1", "02_stage0/mrb_m2", "02_stage0/mrb_m3", "02_stage0/mrb_shortcut"]
    every = {t: d for t, _, d in callbacks.histogram_tags(model, "half_multiresunet", "all")}
    assert len(every) == 38 + 4 * 37 + 1  # + BatchNorm beta, gamma, moving mean, variance of 37 convs; head bias
    assert every["03_stage1/mrb_m2_bn/gamma"].startswith("layer=stage1_mrb_m2_bn weight=gamma")
    # a model without stage rules: groups by layer-name prefix, in graph order
    unetpp = zoo.build_model("unetpp", input_shape=(32, 32, 3), **zoo.get_model_entry("unetpp").small)
    plain = list(dict.fromkeys(t.split("/")[0] for t, _, _ in callbacks.histogram_tags(unetpp, "unetpp")))
    assert plain == sorted(plain) and plain[-1].endswith("_head") and len(plain) < 10


def test_histograms_of_older_runs_still_read(tmp_path):
    keras.utils.set_random_seed(0)
    model = zoo.build_model("half_multiresunet", input_shape=(32, 32, 3), **TINY)
    model.compile("adam", "binary_crossentropy")
    x = np.random.default_rng(0).random((4, 32, 32, 3), np.float32)
    model.fit(x, x[..., :1] > 0.5, epochs=1, verbose=0,  # Keras' own `<weight>/histogram` tags
              callbacks=[keras.callbacks.TensorBoard(str(tmp_path), histogram_freq=1, write_graph=False)])
    hists = histograms.read_kernel_histograms(tmp_path / "train")
    assert len(hists) == 38 and "stage1_mrb_m2_conv" in hists
    keras.backend.clear_session()


def test_histograms_alone_give_the_same_verdict(collapsed_run):
    a = histograms.analyze(collapsed_run, use_checkpoint=False)
    assert sorted(a.flagged) == sorted(COLLAPSE)
    assert {k.final_source for k in a.kernels} == {"histogram"}
    assert a.sources["reference"] == "initializer"  # sigma0 from the model rebuilt from config.json


def test_thresholds_are_arguments(collapsed_run):
    strict = histograms.analyze(collapsed_run, histograms.Criterion(shrink=0.01, near_zero=1.0))  # rule 2 off
    assert strict.flagged == [] and strict.suggestion["model"] == "half_multiresunet"


def test_folds_are_analysed_each_and_summed_up(collapsed_run, tmp_path):
    run = tmp_path / "cv"
    run.mkdir()
    shutil.copy(collapsed_run / "config.json", run)
    for k in (0, 1):
        shutil.copytree(collapsed_run, run / f"fold{k}", ignore=shutil.ignore_patterns("analysis", "config.json"))
    assert histograms.main([str(run), "--no-tensorboard"]) == 0
    summary = json.loads((run / "analysis" / "report.json").read_text())
    assert summary["collapsed_stages"] == ["stage1"]
    assert summary["kernel_counts"]["stage1_mrb_m2_conv"] == 2
    assert (run / "fold1" / "analysis" / "ridges.png").is_file()


def test_statistics_from_a_histogram_approximate_the_exact_ones():
    w = np.random.default_rng(1).normal(0, 0.1, 5000)
    counts, edges = np.histogram(w, bins=30)
    hist = np.stack([edges[:-1], edges[1:], counts], axis=1)
    mean, std, near = histograms.hist_stats(hist, 0.025)
    assert abs(std / w.std() - 1) < 0.01 and abs(mean - w.mean()) < 0.002
    assert abs(near - np.mean(np.abs(w) < 0.025)) < 0.02


@pytest.mark.parametrize("name,place", [
    ("stage3_mrb_m2_conv", ("stage3", "m2")), ("stage6_2_conv", ("stage6", "conv2")),
    ("respath1_3_conv1x1_conv", ("respath1", "conv1x1")), ("stem_conv", ("stem", "conv")),
])
def test_layer_names_map_to_stage_and_branch(name, place):
    assert callbacks.layer_place(name) == place


@pytest.mark.parametrize("model,collapsed,smaller", [
    ("unet", {3}, "half_unet"), ("multiresunet", {2, 3}, "half_multiresunet"), ("multiresunet", {0}, "multiresunet"),
    ("half_multiresunet", {7}, "quarter_multiresunet"), ("half_unet", {1}, None),
])
def test_suggestions_follow_the_paper(model, collapsed, smaller):
    assert histograms.suggest(model, collapsed)["model"] == smaller


def test_train_analyze_writes_report_and_plots(tmp_path, capsys):
    code = train.main(["--model", "half_multiresunet", "--image-size", "64", "--epochs", "2", "--output",
                       str(tmp_path), "--name", "r", "--analyze"])
    assert code == 0
    out = tmp_path / "r" / "analysis"
    assert str(out / "report.md") in capsys.readouterr().out
    data = json.loads((out / "report.json").read_text())
    assert data["sources"]["epochs"] == [1, 2] and data["sources"]["final"] == "last.keras"
    assert len(data["kernels"]) == 38 and all(len(k["std"]) == 2 for k in data["kernels"])
    assert {s["group"] for s in data["stages"]} >= {"stage0", "stage1", "stage4", "stage7", "stage8"}
    text = (out / "report.md").read_text()
    for section in ("## Verdict", "## Criterion", "## Stages, most learning first", "![ridges](ridges.png)"):
        assert section in text
    for name in ("ridges", "stages", "trends"):
        image = imread(out / f"{name}.png")
        assert image.ndim == 3 and min(image.shape[:2]) > 300 and image.std() > 0.01
    acc = EventAccumulator(str(tmp_path / "r" / "tb" / "analysis"), size_guidance={"tensors": 0})
    acc.Reload()
    assert {"kernel_analysis/ridges", "kernel_analysis/stages", "kernel_analysis/report"} <= set(acc.Tags()["tensors"])


def test_apply_trains_the_suggested_smaller_model_on_the_recorded_split(tmp_path, capsys):
    """--apply on a real train.py run: with every kernel counted as collapsed (--shrink 1000), Half MultiResUNet's
    suggestion is Quarter; it is trained on the recorded split and both models are measured side by side."""
    from conftest import write_dataset

    data = write_dataset(tmp_path / "data", n=10)
    assert train.main(["--model", "half_multiresunet", "--data", str(data), "--image-size", "32", "--epochs", "1",
                       "--output", str(tmp_path), "--name", "r", "--no-analyze"]) == 0
    run = tmp_path / "r"
    code = histograms.main([str(run), "--apply", "--epochs", "1", "--shrink", "1000", "--no-tensorboard"])
    assert code == 0
    out = run / "apply"
    assert str(out / "comparison.md") in capsys.readouterr().out
    result = json.loads((out / "comparison.json").read_text())
    original, smaller = result["original"], result["suggested"]
    assert (original["model"], smaller["model"]) == ("half_multiresunet", "quarter_multiresunet")
    assert 0 < smaller["params"] < original["params"] and 0 < smaller["flops"] < original["flops"]
    assert 0 < smaller["int8"]["bytes"] < original["int8"]["bytes"]
    for m in (original, smaller):  # both scored on the recorded test split
        assert m["scores"]["split"] == "test" and m["scores"]["images"] == original["scores"]["images"] > 0
        assert 0 <= m["scores"]["pooled_f1"] <= 1 and 0 <= m["scores"]["pooled_rw_f1"] <= 1
        assert m["int8"]["eval_images"] == original["scores"]["images"]
    sub = out / "quarter_multiresunet"
    assert json.loads((sub / "split.json").read_text())["splits"] == json.loads((run / "split.json").read_text())["splits"]
    assert result["same_split"]
    recorded, new = (json.loads((p / "config.json").read_text()) for p in (run, sub))
    changed = {k for k in recorded if recorded[k] != new[k]}
    assert changed == {"model", "output", "name"} and new["epochs"] == 1  # the run's own epochs were 1 too
    assert (sub / "best.keras").is_file() and (sub / "metrics.json").is_file() and (sub / "analysis" / "report.md").is_file()
    text = (out / "comparison.md").read_text()
    assert "`half_multiresunet`" in text and "`quarter_multiresunet`" in text and "the same train / val / test" in text

    # Quarter MultiResUNet is the smallest model: its suggestion keeps it, so --apply has nothing to train.
    assert histograms.main([str(sub), "--apply", "--shrink", "1000", "--no-tensorboard"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "nothing to train" in err and "\n" not in err
    with pytest.raises(SystemExit) as exit_:
        histograms.main([str(run), "--epochs", "3"])
    assert exit_.value.code == 2 and "--epochs needs --apply" in capsys.readouterr().err
