"""predict.py: a run, its .keras, its INT8 .tflite and its .onnx segment a folder of mixed-format images with
training's preprocessing; masks have each image's size, and their Dice on the run's recorded test images is the
deploy report's; videos give one mask per frame; tiles agree with the whole image; bad input is one line."""
import csv
import dataclasses
import json
import os
import shutil
import time
import types
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
import tf_keras as keras

import train
from conftest import SAMPLE_DATA
from deploy import predict
from deploy.__main__ import main as deploy_main
from zoo.training import data
from zoo.training.loop import evaluate_at_original_size
from zoo.training.metrics import evaluate_masks

SIZE = 64  # the model input; the test dataset is the sample downsized to it, so the deploy report (which scores
# at model resolution) and predict (which writes masks at each image's size) score the same pixels
FORMATS = ("png", "jpg", "tif", "bmp")


def _write_image(path: Path, rgb: np.ndarray) -> Path:
    if path.suffix == ".tif":
        tifffile.imwrite(path, rgb)
    else:
        assert cv2.imwrite(str(path), rgb[..., ::-1].copy())
    return path


def _downsized_sample(root: Path) -> Path:
    """The bundled sample at SIZE x SIZE, images in PNG, JPEG, TIFF and BMP in turn, masks PNG."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i, (image, mask) in enumerate(data.find_pairs(SAMPLE_DATA)):
        rgb = cv2.cvtColor(cv2.imread(str(image)), cv2.COLOR_BGR2RGB)
        rgb = cv2.resize(rgb, (SIZE, SIZE), interpolation=cv2.INTER_AREA)
        fg = cv2.resize(cv2.imread(str(mask), cv2.IMREAD_GRAYSCALE), (SIZE, SIZE), interpolation=cv2.INTER_AREA) > 0
        cv2.imwrite(str(root / "masks" / f"{image.stem}.png"), fg.astype(np.uint8) * 255)
        _write_image(root / "images" / f"{image.stem}.{FORMATS[i % 4]}", rgb)
    return root


def _build(root: Path) -> None:
    """Train, deploy and lay out the folder to segment (see `deployed`) in `root`."""
    keras.utils.set_random_seed(0)
    dataset = _downsized_sample(root / "data")
    assert train.main(["--model", "quarter_multiresunet", "--image-size", str(SIZE), "--epochs", "6", "--lr", "0.01",
                       "--loss", "bce_dice", "--no-augment", "--histogram-freq", "0", "--cache", "none",
                       "--data", str(dataset), "--output", str(root), "--name", "r"]) == 0
    assert deploy_main([str(root / "r"), "--quantize", "int8", "--targets", "tflite,onnx", "--output",
                        str(root / "deployed")]) == 0
    report = json.loads((root / "deployed" / "report.json").read_text())
    source = root / "source"
    shutil.copytree(dataset / "images", source)
    (source / "full").mkdir()
    for name in report["scored_images"]:  # the same images at the sample's own 256 x 256
        shutil.copy(SAMPLE_DATA / "images" / f"{Path(name).stem}.png", source / "full")
    original = cv2.cvtColor(cv2.imread(str(SAMPLE_DATA / "images" / "001.png")), cv2.COLOR_BGR2RGB)
    (source / "odd").mkdir()
    rgba = np.dstack([original[:48, :80], np.full((48, 80), 255, np.uint8)])
    cv2.imwrite(str(source / "odd" / "rgba.png"), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    grey16 = (cv2.cvtColor(original[:100, :70], cv2.COLOR_RGB2GRAY).astype(np.uint16) * 257)
    cv2.imwrite(str(source / "odd" / "grey16.png"), grey16)
    (source / "odd" / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    """A tiny run trained on the downsized sample, deployed to INT8 .tflite and .onnx, and a folder to segment:
    the run's images (four formats), the scored images at their original 256 px, odd sizes and one broken file.
    Under pytest-xdist the first worker builds it and the others of the session wait for it and read it."""
    root = tmp_path_factory.getbasetemp()
    root = (root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root) / "predict_shared"
    done, failed = root / "done", root / "failed"
    try:
        root.mkdir()
    except FileExistsError:
        deadline = time.monotonic() + 900
        while not done.is_file():
            if failed.is_file() or time.monotonic() > deadline:
                pytest.fail(f"{root}: another worker failed to train and deploy the shared run")
            time.sleep(1)
    else:
        try:
            _build(root)
        except BaseException:
            failed.touch()
            raise
        done.touch()
    out = root / "deployed"
    return types.SimpleNamespace(root=root, data=root / "data", run=root / "r", out=out,
                                 report=json.loads((out / "report.json").read_text()), source=root / "source",
                                 tflite=out / f"quarter_multiresunet_{SIZE}x{SIZE}_int8.tflite",
                                 onnx=out / f"quarter_multiresunet_{SIZE}x{SIZE}.onnx")


def _predict(capsys, *argv) -> tuple[int, str]:
    code = predict.main([*map(str, argv), "--quiet"])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def _rows(out: Path) -> dict:
    with open(out / "predictions.csv", newline="") as f:
        return {(r["file"], r["frame"]): r for r in csv.DictReader(f)}


def _pooled_dice(masks_dir: Path, names, truth_dir: Path) -> float:
    stems = [Path(n).stem for n in names]
    truth = np.stack([data.read_mask(truth_dir / f"{s}.png") for s in stems])
    pred = np.stack([data.read_mask(masks_dir / f"{s}.png") for s in stems])
    return evaluate_masks(truth, pred)["pooled_f1"]


def test_every_backend_reproduces_the_deploy_report(deployed, tmp_path, capsys):
    report, variants = deployed.report, deployed.report["variants"]
    assert variants["keras_float"]["scores"]["f1"] > 0.05  # a model that finds particles: the comparison means a thing
    good = [p for p in deployed.source.rglob("*") if p.is_file() and p.name != "broken.jpg"]
    models = {"run": (deployed.run, "keras_float"), "keras": (deployed.run / "best.keras", "keras_float"),
              "tflite": (deployed.tflite, "tflite_int8"), "onnx": (deployed.onnx, "keras_float")}
    for name, (model, variant) in models.items():
        out = tmp_path / name
        extra = {"tflite": ["--save-prob", "npy"], "onnx": ["--save-prob"]}.get(name, [])
        code, err = _predict(capsys, deployed.source, "--model", model, "--output", out, "--batch-size", 3, *extra)
        assert code == 0, err
        skipped = [line for line in err.splitlines() if line.startswith("skipped ")]
        assert len(skipped) == 1 and "broken.jpg" in skipped[0], err  # one line naming the file
        rows = _rows(out)
        assert len(rows) == len(good)
        for image in good:
            rel = image.relative_to(deployed.source)
            mask = cv2.imread(str(out / "masks" / rel.with_suffix(".png")), cv2.IMREAD_UNCHANGED)
            h, w = data.read_image(image).shape[:2]
            assert mask.shape == (h, w) and set(np.unique(mask)) <= {0, 255}, rel
            assert (out / "overlays" / rel.with_suffix(".jpg")).is_file()
            row = rows[(rel.as_posix(), "")]
            assert (int(row["height"]), int(row["width"])) == (h, w)
            assert int(row["foreground_pixels"]) == np.count_nonzero(mask)
            areas = [int(a) for a in row["component_areas"].split()]
            assert sum(areas) == np.count_nonzero(mask) and len(areas) == int(row["components"])
        # the deploy report scores the recorded test images at model resolution; these images are at it
        dice = _pooled_dice(out / "masks", report["scored_images"], deployed.data / "masks")
        assert dice == pytest.approx(variants[variant]["scores"]["f1"], abs=0.005), (name, dice)
    # the probabilities written with --save-prob are the ones thresholded
    prob = np.load(tmp_path / "tflite" / "probabilities" / "001.npy")
    assert np.array_equal(prob > 0.5, cv2.imread(str(tmp_path / "tflite" / "masks" / "001.png"), 0) > 0)
    prob16 = cv2.imread(str(tmp_path / "onnx" / "probabilities" / "001.png"), cv2.IMREAD_UNCHANGED)
    assert prob16.dtype == np.uint16 and prob16.shape == (SIZE, SIZE)
    for name in ("keras", "onnx"):  # the same float model: the same masks
        for rel in ("001.png", "full/005.png", "odd/rgba.png"):
            a, b = (cv2.imread(str(tmp_path / n / "masks" / rel), 0) for n in ("run", name))
            assert np.mean(a == b) > 0.999, (name, rel)


def test_original_size_masks_score_as_training_scores(deployed, tmp_path, capsys):
    """At the sample's own 256 px the masks score as train.py scores its test split (metrics.json: predict at model
    size, probabilities mapped back to the image's size, threshold 0.5)."""
    names = deployed.report["scored_images"]
    code, _ = _predict(capsys, deployed.source / "full", "--model", deployed.run, "--output", tmp_path, "--no-overlay")
    assert code == 0 and not (tmp_path / "overlays").exists()
    recorded = predict.load_predictor(deployed.run)
    pairs = [(SAMPLE_DATA / "images" / f"{Path(n).stem}.png", SAMPLE_DATA / "masks" / f"{Path(n).stem}.png")
             for n in names]
    expected = evaluate_at_original_size(recorded.backend.model, pairs, recorded.preprocessing.data_config())
    assert _pooled_dice(tmp_path / "masks", names, SAMPLE_DATA / "masks") == pytest.approx(expected["pooled_f1"],
                                                                                           abs=1e-6)


def test_video_glob_and_single_image(deployed, tmp_path, capsys):
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5, (80, 48))
    for i in range(5):
        frame = cv2.imread(str(SAMPLE_DATA / "images" / f"00{i + 1}.png"))
        writer.write(cv2.resize(frame, (80, 48)))
    writer.release()
    out = tmp_path / "out"
    code, err = _predict(capsys, video, "--model", deployed.tflite, "--output", out)
    assert code == 0, err
    rows = _rows(out)
    assert sorted(rows) == [("clip.avi", str(i)) for i in range(5)]
    for i in range(5):
        assert cv2.imread(str(out / "masks" / "clip" / f"frame_{i:06d}.png"), 0).shape == (48, 80)
    cap = cv2.VideoCapture(str(out / "overlays" / "clip.avi"))
    assert cap.isOpened() and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 5
    cap.release()
    # a glob (recursive, relative names kept) and one file
    code, _ = _predict(capsys, deployed.source / "**" / "*.png", "--model", deployed.tflite, "--output", tmp_path / "g")
    pngs = sorted(p.relative_to(deployed.source).as_posix() for p in deployed.source.rglob("*.png"))
    assert code == 0 and sorted(f for f, _ in _rows(tmp_path / "g")) == pngs
    code, _ = _predict(capsys, deployed.source / "odd" / "grey16.png", "--model", deployed.tflite, "--output",
                       tmp_path / "one")
    assert code == 0 and cv2.imread(str(tmp_path / "one" / "masks" / "grey16.png"), 0).shape == (100, 70)


def _fcn(size: int, name="tiny_fcn"):
    """Three 3x3 convolutions: a receptive field of 7 pixels, the same at any input size."""
    inp = keras.Input((size, size, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="c1")(inp)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="c2")(x)
    out = keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid", name="c3")(x)
    return keras.Model(inp, out, name=name)


def test_tiles_agree_with_the_whole_image(tmp_path, capsys):
    """A fully convolutional model at 32 px, tiled over an image of 128 px (four times its side), against the same
    weights built at 128 px predicting the whole image at once; windows overlap by 8 or 16 px, more than the model's
    receptive field reaches (3 px), and the threshold is the median probability (half the pixels are foreground)."""
    small, big = _fcn(32), _fcn(128)
    rgb = cv2.cvtColor(cv2.imread(str(SAMPLE_DATA / "images" / "002.png")), cv2.COLOR_BGR2RGB)
    image = cv2.resize(rgb, (128, 128), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    weights = small.get_weights()
    big.set_weights(weights)
    p = np.clip(big.predict(image[None], verbose=0), 1e-6, 1 - 1e-6)
    logit = np.log(p / (1 - p))
    scale = 3 / logit.std()  # spread the untrained model's probabilities over (0, 1), centred on 0.5
    weights[-2], weights[-1] = weights[-2] * scale, (weights[-1] - np.median(logit)) * scale
    small.set_weights(weights)
    big.set_weights(weights)
    small.save(tmp_path / "fcn.keras")
    whole = big.predict(image[None], verbose=0)[0]
    threshold = float(np.median(whole))
    pred = predict.load_predictor(tmp_path / "fcn.keras")
    assert pred.preprocessing.image_size == (32, 32) and pred.preprocessing.normalization is None
    for overlap, blend, agreement in ((0.25, "gaussian", 0.99), (0.5, "gaussian", 0.995), (0.5, "linear", 0.97)):
        tiled = predict.tiled_probabilities(pred, image, overlap=overlap, blend=blend)
        assert tiled.shape == (128, 128, 1)
        assert np.mean((tiled > threshold) == (whole > threshold)) >= agreement, (overlap, blend)
    # through the command line: the image's own size, a smaller image padded to a window
    src = tmp_path / "src"
    src.mkdir()
    cv2.imwrite(str(src / "big.png"), cv2.resize(rgb, (128, 128), interpolation=cv2.INTER_AREA)[..., ::-1])
    cv2.imwrite(str(src / "small.png"), rgb[:20, :50, ::-1])
    code, err = _predict(capsys, src, "--model", tmp_path / "fcn.keras", "--tile", "--tile-overlap", "0.5",
                         "--threshold", threshold, "--output", tmp_path / "out")
    assert code == 0, err
    mask = cv2.imread(str(tmp_path / "out" / "masks" / "big.png"), 0) > 0
    assert np.mean(mask == (whole[..., 0] > threshold)) >= 0.99
    assert cv2.imread(str(tmp_path / "out" / "masks" / "small.png"), 0).shape == (20, 50)


class _Pointwise:
    """A stand-in backend whose output at a pixel depends on that pixel only (receptive field 1)."""

    kind, fixed_batch, input_shape = "stub", None, (16, 24, 3)

    def __call__(self, x):
        return x.mean(axis=-1, keepdims=True)

    def describe(self):
        return "stub"


def test_tiling_is_exact_for_a_pointwise_model_and_fit_pad_restores_the_size(tmp_path):
    image = np.random.default_rng(0).random((50, 37, 3), dtype=np.float32)
    pre = predict.Preprocessing((16, 24), 3, "pad", None, 0.5, "test")
    pred = predict.Predictor(_Pointwise(), pre, "stub")
    for blend in predict.BLENDS:
        tiled = predict.tiled_probabilities(pred, image, overlap=0.3, blend=blend, batch_size=5)
        np.testing.assert_allclose(tiled[..., 0], image.mean(-1), atol=1e-6)
    assert predict.window_starts(50, 16, 0.25) == [0, 12, 24, 34]
    path = tmp_path / "a.png"
    cv2.imwrite(str(path), (image * 255).astype(np.uint8))
    items = predict.find_inputs(path)
    summary = predict.predict(pred, items, predict.Options(tmp_path / "out", progress=False))
    assert summary["images"] == 1 and cv2.imread(str(tmp_path / "out" / "masks" / "a.png"), 0).shape == (50, 37)


def test_preprocessing_of_deployed_files(tmp_path):
    model = tmp_path / "m_32x32_int8.tflite"
    model.write_bytes(b"")
    pre, notes = predict.deployment_preprocessing(model, (32, 32, 3))
    assert (pre.image_size, pre.fit, pre.normalization, pre.threshold) == ((32, 32), "resize", None, 0.5) and notes
    norm = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
    report = {"input_shape": [32, 32, 3], "input_normalization": norm, "run": str(tmp_path / "gone"),
              "variants": {"tflite_int8": {"file": model.name}}}
    (tmp_path / "report.json").write_text(json.dumps(report))
    pre, notes = predict.deployment_preprocessing(model, (32, 32, 3))
    assert pre.normalization == norm and pre.fit == "resize" and "does not record the fit" in notes[0]
    (tmp_path / "report.json").write_text(json.dumps(report | {"fit": "pad"}))
    assert predict.deployment_preprocessing(model, (32, 32, 3)) == (dataclasses.replace(pre, fit="pad"), [])
    with pytest.raises(predict.PredictError, match="input_shape"):
        predict.deployment_preprocessing(model, (64, 64, 3))
    other = tmp_path / "m_64x64_int8.tflite"  # a file the report does not list: the report is not used
    pre, notes = predict.deployment_preprocessing(other, (64, 64, 3))
    assert pre.normalization is None and "about other files" in notes[0]
    model.with_suffix(".json").write_text(json.dumps({"file": model.name, "preprocessing": {
        "image_size": [32, 32], "channels": 3, "fit": "pad", "input_normalization": None, "threshold": 0.3}}))
    pre, notes = predict.deployment_preprocessing(model, (32, 32, 3))
    assert (pre.fit, pre.normalization, pre.threshold, notes) == ("pad", None, 0.3, [])


def test_bad_input_is_one_line_and_outputs_are_not_destroyed(deployed, tmp_path, capsys):
    bad = {"corrupt.tflite": b"TFL3 garbage", "corrupt.onnx": b"\x08\x07 garbage", "corrupt.keras": b"PK garbage",
           "model.h5": b"\x89HDF"}
    for name, blob in bad.items():
        (tmp_path / name).write_bytes(blob)
    image = deployed.source / "001.png"
    for model in [tmp_path / "missing.tflite", tmp_path / "not_a_run", *[tmp_path / n for n in bad]]:
        if model.name == "not_a_run":
            model.mkdir()
        code, err = _predict(capsys, image, "--model", model, "--output", tmp_path / "o")
        lines = [line for line in err.splitlines() if line.strip()]
        assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and str(model) in lines[0], err
    code, err = _predict(capsys, tmp_path / "nothing_here.png", "--model", deployed.tflite, "--output", tmp_path / "o")
    assert code == 2 and "nothing_here.png" in err
    code, err = _predict(capsys, image, "--model", deployed.tflite, "--threshold", "1.5")
    assert code == 2 and "--threshold" in err
    only_broken = tmp_path / "broken"
    only_broken.mkdir()
    (only_broken / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    code, err = _predict(capsys, only_broken, "--model", deployed.tflite, "--output", tmp_path / "o")
    assert code == 2 and "x.png" in err
    out = tmp_path / "kept"
    (out / "masks").mkdir(parents=True)
    (out / "notes.txt").write_text("mine")
    (out / "masks" / "001.png").write_bytes(b"old")
    code, err = _predict(capsys, image, "--model", deployed.tflite, "--output", out)
    assert code == 0 and "same name are replaced" in err
    assert (out / "notes.txt").read_text() == "mine"
    assert cv2.imread(str(out / "masks" / "001.png"), 0).shape == (SIZE, SIZE)
    # an output folder inside the source folder is not read back as input on the next run; hidden files are left out
    inside = tmp_path / "inside"
    inside.mkdir()
    shutil.copy(image, inside)
    (inside / ".hidden.png").write_bytes(image.read_bytes())
    for _ in range(2):
        code, _ = _predict(capsys, inside, "--model", deployed.tflite, "--output", inside / "seg")
        assert code == 0 and list(_rows(inside / "seg")) == [("001.png", "")]
    # a .tflite alone (no report beside it) still runs, with a note
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(deployed.tflite, alone)
    code, err = _predict(capsys, image, "--model", alone / deployed.tflite.name, "--output", tmp_path / "a")
    assert code == 0 and "note: no" in err


def test_benchmark_toy(tmp_path):
    from benchmarks import predict_speed

    out = tmp_path / "results"
    assert predict_speed.main(["--toy", "--output", str(out)]) == 0
    text = (out / "predict_speed.md").read_text()
    assert "| model |" in text and "**Reading:**" in text and (out / "predict_speed.png").is_file()


def test_benchmark_times_a_given_tflite_file(tmp_path):
    from benchmarks import predict_speed

    path = predict_speed.int8_file("quarter_multiresunet", 32, tmp_path, 4)
    out = tmp_path / "results"
    assert predict_speed.main(["--toy", "--tflite", str(path), "--output", str(out)]) == 0
    text = (out / "predict_speed.md").read_text()
    assert f"| {path.name} | 32x32 |" in text and f"the file `{path}`" in text
