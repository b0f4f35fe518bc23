"""Reliability: bad data and bad arguments are one line naming the problem and exit code 2
before anything is written; a non-finite loss or out-of-memory stops cleanly and keeps the last good
checkpoint; Ctrl-C or SIGKILL loses at most the current epoch and `--resume` continues with optimizer
state, epoch counter and TensorBoard steps intact; files are written atomically; model files load in
Keras safe mode. The bad-input corpus is generated here."""
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile

import cv2
import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import train
from zoo.training.run import RunConfig
import zoo
from conftest import ROOT, SAMPLE_DATA, shared_dataset
from conftest import box_mask as _mask, random_image as _image, write_dataset as _good_set
from zoo.training import data, callbacks, validate
from zoo import files

H, W = 40, 48
FAST = ["--model", "quarter_multiresunet", "--image-size", "32", "--histogram-freq", "0", "--no-augment"]


# --- a small good dataset and the corpus of bad inputs ----------------------------------------

def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def truncated_jpeg_image(root):
    (root / "images" / "p0.png").unlink()
    path = root / "images" / "p0.jpg"
    cv2.imwrite(str(path), _image(0))
    _truncate(path)  # OpenCV would decode this with a grey bottom half and only a warning
    return path, "truncated image file"


def truncated_png_mask(root):
    path = root / "masks" / "p0.png"
    _truncate(path)
    return path, "truncated image file"


def zero_byte_png_image(root):
    path = root / "images" / "p0.png"
    path.write_bytes(b"")
    return path, "empty file (0 bytes)"


def text_file_named_png_mask(root):
    path = root / "masks" / "p0.png"
    path.write_text("this is not a PNG\n")
    return path, "cannot decode image (not a format OpenCV or Pillow recognises)"


def wrong_size_mask(root):
    path = root / "masks" / "p0.png"
    cv2.imwrite(str(path), _mask(30, W))
    return path, f"mask size {W}x30 differs from image p0.png size {W}x{H}"


def three_class_mask_012(root):
    path = root / "masks" / "p0.png"
    m = np.zeros((H, W), np.uint8)
    m[H // 3:] = 1
    m[2 * H // 3:] = 2
    cv2.imwrite(str(path), m)
    return path, "mask is not binary: values {0, 1, 2} in 3 levels"


def three_class_mask_0_128_255(root):
    path = root / "masks" / "p0.png"
    m = _mask()
    m[25:35, 5:40] = 128
    cv2.imwrite(str(path), m)
    return path, "mask is not binary: values {0, 128, 255} in 3 levels"


def empty_mask(root):
    path = root / "masks" / "p0.png"
    cv2.imwrite(str(path), np.zeros((H, W), np.uint8))
    return path, "mask is empty: no foreground after thresholding at 0.5"


def five_channel_tiff_image(root):
    import tifffile

    (root / "images" / "p0.png").unlink()
    path = root / "images" / "p0.tif"
    tifffile.imwrite(path, np.zeros((H, W, 5), np.uint8), photometric="minisblack", planarconfig="contig")
    return path, f"unexpected image shape ({H}, {W}, 5): 5 channels"


def mask_without_image(root):
    path = root / "masks" / "extra.png"
    cv2.imwrite(str(path), _mask())
    return path, "mask without an image"


def image_without_mask(root):
    (root / "masks" / "p0.png").unlink()
    return root / "images" / "p0.png", "image without a mask"


def duplicate_stem(root):
    cv2.imwrite(str(root / "images" / "p0.jpg"), _image(0))  # sorts first, so p0.png is the duplicate
    return root / "images" / "p0.png", "duplicate stem 'p0' with a different file (p0.jpg)"


BAD_PAIRS = [truncated_jpeg_image, truncated_png_mask, zero_byte_png_image, text_file_named_png_mask, wrong_size_mask,
             three_class_mask_012, three_class_mask_0_128_255, empty_mask, five_channel_tiff_image,
             mask_without_image, image_without_mask, duplicate_stem]


def missing_dataset_folder(root):
    shutil.rmtree(root)
    return root, "folder not found"


def missing_masks_folder(root):
    shutil.rmtree(root / "masks")
    return root / "masks", "folder not found"


def empty_images_folder(root):
    for p in (root / "images").iterdir():
        p.unlink()
    return root / "images", "empty folder (no image files"


def all_masks_empty(root):
    for p in (root / "masks").iterdir():
        cv2.imwrite(str(p), np.zeros((H, W), np.uint8))
    return root / "masks", "all 6 masks are empty after thresholding"


FATAL = [missing_dataset_folder, missing_masks_folder, empty_images_folder, all_masks_empty]


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr
    assert lines and lines[-1].startswith("error: "), stderr
    return lines[-1]


@pytest.mark.parametrize("make_bad", BAD_PAIRS, ids=lambda f: f.__name__)
def test_bad_pair_is_one_line_naming_the_file_and_skipped(tmp_path, make_bad):
    root = _good_set(tmp_path / "set")
    path, message = make_bad(root)
    report = validate.validate_dataset(root)
    assert [str(p) for p in report.problems] == [f"{path}: {report.problems[0].message}"]
    line = str(report.problems[0])
    assert message in line and "\n" not in line, line
    extra = make_bad is mask_without_image
    assert len(report.pairs) == 5 + extra and report.stems == 6 + extra
    assert f"{5 + extra} of {6 + extra} image/mask pairs used, 1 skipped" in report.summary()
    with pytest.raises(data.DataError) as e:
        validate.validate_dataset(root, strict=True)
    assert str(e.value) == line


@pytest.mark.parametrize("make_bad", BAD_PAIRS + FATAL[:3], ids=lambda f: f.__name__)  # strict stops at the 1st empty mask
def test_strict_cli_stops_with_exit_2_before_writing(tmp_path, capsys, make_bad):
    root = _good_set(tmp_path / "set")
    path, message = make_bad(root)
    runs = tmp_path / "runs"
    assert train.main(["--data", str(root), "--strict", "--output", str(runs), *FAST]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith(f"error: {path}: ") and message in line, line
    assert not runs.exists()


@pytest.mark.parametrize("make_bad", FATAL, ids=lambda f: f.__name__)
def test_fatal_data_problems_raise_without_strict(tmp_path, make_bad):
    root = _good_set(tmp_path / "set")
    path, message = make_bad(root)
    with pytest.raises(data.DataError, match=message.replace("(", r"\(")) as e:
        validate.validate_dataset(root)
    assert str(e.value).startswith(f"{path}: ")


def test_strict_cli_in_a_fresh_process_has_no_traceback(tmp_path):
    root = _good_set(tmp_path / "set")
    path, _ = truncated_jpeg_image(root)
    proc = subprocess.run([sys.executable, str(ROOT / "train.py"), "--data", str(root), "--strict",
                           "--output", str(tmp_path / "runs"), *FAST], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert _one_error_line(proc.stderr) == f"error: {path}: truncated image file ({path.stat().st_size} bytes)"


def test_mask_binary_judgement_tolerates_jpeg_edges_and_faint_regions(tmp_path):
    big = np.zeros((288, 384), np.uint8)
    big[100:200, 120:260] = 255
    cv2.imwrite(str(tmp_path / "m.jpg"), big, [cv2.IMWRITE_JPEG_QUALITY, 75])
    jpeg = cv2.imread(str(tmp_path / "m.jpg"), cv2.IMREAD_GRAYSCALE)
    assert len(np.unique(jpeg)) > 2  # JPEG adds edge levels ...
    assert validate.describe_non_binary(jpeg) is None  # ... which are not classes
    faint = big.copy()
    faint[0:60, 0:200] = 11  # CVC-ClinicDB masks have faint value-11 regions
    assert validate.describe_non_binary(faint) is None
    soft = cv2.GaussianBlur(big, (0, 0), 25)  # a probability map saved as a mask is not binary
    assert "not binary" in validate.describe_non_binary(soft)
    assert validate.describe_non_binary((big > 0).astype(np.uint8)) is None  # 0/1 label map


@pytest.mark.parametrize("name,invert", [("kvasir_seg", False), ("cvc_clinicdb", False), ("dsb2018_nuclei", False),
                                         ("mpset_microplastics", True), ("sample", False)])
def test_real_datasets_validate_clean_and_fast(name, invert):
    root = SAMPLE_DATA if name == "sample" else shared_dataset(name)
    start = time.perf_counter()
    report = validate.validate_dataset(root, data.DataConfig(mask_invert=invert))
    seconds = time.perf_counter() - start
    assert report.problems == [] and len(report.pairs) == report.stems == len(data.find_pairs(root))
    assert seconds < 3 + len(report.pairs) / 100, seconds  # Kvasir's 1000 JPEG pairs: about 2 s on 2 cores


# --- bad arguments --------------------------------------------------------------------------

def _fake_run(folder, **changes):
    folder.mkdir(parents=True)
    cfg = RunConfig(data=str(SAMPLE_DATA), **changes)
    (folder / "config.json").write_text(cfg.to_json())
    (folder / "keep.txt").write_text("user's file")
    return folder


@pytest.mark.parametrize("args,message", [
    (["--model", "quarter_multiresunt"], "unknown model 'quarter_multiresunt'. Did you mean 'quarter_multiresunet'"),
    (["--model", "half_multiresunet", "--image-size", "66"],
     "--image-size: half_multiresunet: input height 66 is not divisible by the model's stride 4; use 68 (or 64)"),
    (["--model", "quarter_multiresunet", "--model-arg", "colour=1"],
     "cannot build quarter_multiresunet with --width 1 and --model-arg colour=1: "),
    (["--batch-size", "64"], "--batch-size 64 is larger than the 28 training pairs"),
    (["--fold", "3"], "--fold 3 needs --folds greater than 3"),
    (["--folds", "1"], "--folds needs 2 or more folds"),
    (["--val-fraction", "0.5", "--test-fraction", "0.5"], "leaves no training data"),
    (["--mask-threshold", "2"], "--mask-threshold is a fraction of full scale"),
    (["--epochs", "0"], "--epochs and --batch-size must be at least 1"),
    (["--resume", "RUNS/nowhere"], "--resume: RUNS/nowhere/config.json: not found (not a train.py run folder)"),
    (["--resume", "RUNS/old", "--model", "unet"], "--model conflicts with --resume"),
    (["--resume", "RUNS/old", "--no-augment"], "--no-augment conflicts with --resume"),
    (["--resume", "RUNS/old", "--overwrite"], "--overwrite conflicts with --resume"),
    (["--name", "old"], "RUNS/old: run folder already exists; continue it with --resume"),
    (["--name", "notarun", "--overwrite"], "RUNS/notarun: not a train.py run folder (no config.json)"),
])
def test_bad_arguments_are_one_line_and_exit_2(tmp_path, capsys, args, message):
    runs = tmp_path / "runs"
    _fake_run(runs / "old")
    (runs / "notarun").mkdir()
    (runs / "notarun" / "thesis.tex").write_text("precious")
    before = sorted(str(p) for p in runs.rglob("*"))
    args = [a.replace("RUNS", str(runs)) for a in args]
    argv = args if "--resume" in args else ["--output", str(runs), "--epochs", "1", *args]
    try:
        code = train.main(argv)
    except SystemExit as e:  # argparse errors
        code = e.code
    assert code == 2
    line = _one_error_line(capsys.readouterr().err)
    assert message.replace("RUNS", str(runs)) in line, line
    assert sorted(str(p) for p in runs.rglob("*")) == before  # nothing written, nothing removed
    assert (runs / "old" / "keep.txt").read_text() == "user's file"


# --- runs: skipped pairs, --overwrite, faults ---------------------------------------------------

def _history(run_dir):
    with open(run_dir / "history.csv") as f:
        return list(csv.DictReader(f))


def test_default_run_skips_bad_pairs_says_how_many_and_overwrites_only_with_flag(tmp_path, capsys):
    root = tmp_path / "set"
    shutil.copytree(SAMPLE_DATA, root)
    _truncate(root / "images" / "003.png")
    cv2.imwrite(str(root / "masks" / "007.png"), np.full((256, 256), 2, np.uint8))
    run = _fake_run(tmp_path / "runs" / "r")
    code = train.main(["--data", str(root), "--output", str(tmp_path / "runs"), "--name", "r", "--overwrite",
                       "--epochs", "1", *FAST])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert f"skipped {root / 'images' / '003.png'}: truncated image file" in out.err
    assert f"skipped {root / 'masks' / '007.png'}: mask is empty" in out.err
    assert "38 of 40 image/mask pairs used, 2 skipped" in out.out
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["train_images"] + metrics["val_images"] + metrics["images"] == 38
    assert not (run / "keep.txt").exists() and (run / "best.keras").is_file()


class _Poison(callbacks.LearningRateLogger):
    """Fault injection: the head's kernel becomes NaN when epoch 3 begins (2 good epochs are on disk)."""

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 2:
            head = self.model.get_layer("head_conv")
            head.kernel.assign(tf.fill(head.kernel.shape, float("nan")))


def test_non_finite_loss_stops_says_the_step_and_keeps_the_last_good_checkpoint(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(callbacks, "LearningRateLogger", _Poison)
    run = tmp_path / "runs" / "nan"
    assert train.main(["--output", str(run.parent), "--name", "nan", "--epochs", "4", *FAST]) == 1
    line = _one_error_line(capsys.readouterr().err)
    steps = 7  # 28 training pairs / batch 4
    assert f"loss became nan at step {2 * steps + 1} (epoch 3, batch 1)" in line, line
    assert f"kept the last good checkpoint {run / 'last.keras'} (epoch 2)" in line
    last = files.load_model(run / "last.keras")
    assert int(last.optimizer.iterations.numpy()) == 2 * steps  # saved after epoch 2, not after the NaN step
    assert all(np.isfinite(w).all() for w in last.get_weights())
    assert callbacks.completed_epochs(run / "backup") == 2 and len(_history(run)) == 2
    assert not (run / "metrics.json").exists()


def test_out_of_memory_names_the_setting_to_lower(tmp_path, capsys, monkeypatch):
    def oom(self, *args, **kwargs):
        raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor with shape[4,32,256,256]")

    monkeypatch.setattr(keras.Model, "fit", oom)
    assert train.main(["--output", str(tmp_path), "--name", "oom", "--epochs", "1", *FAST]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert "out of" in line and "--batch-size 4" in line and "lower --batch-size first" in line, line
    assert (tmp_path / "oom" / "config.json").is_file()


class _CtrlC(callbacks.LearningRateLogger):
    """Ctrl-C in the middle of epoch 2."""

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == 1 and batch == 3:
            raise KeyboardInterrupt


def test_ctrl_c_keeps_finished_epochs_and_resume_continues(tmp_path, capsys, monkeypatch):
    root = tmp_path / "set"
    shutil.copytree(SAMPLE_DATA, root)
    run = tmp_path / "runs" / "int"
    with monkeypatch.context() as m:
        m.setattr(callbacks, "LearningRateLogger", _CtrlC)
        code = train.main(["--data", str(root), "--output", str(run.parent), "--name", "int", "--epochs", "3", *FAST])
    assert code == 130
    err = capsys.readouterr().err
    assert f"continue with: python train.py --resume {run}" in err and "Traceback" not in err
    assert callbacks.completed_epochs(run / "backup") == 1 and len(_history(run)) == 1

    (root / "masks" / "043.png").rename(tmp_path / "043.png")  # a recorded file is gone: the split is the record
    assert train.main(["--resume", str(run)]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "043.png: recorded in" in line and "split.json but gone" in line
    (tmp_path / "043.png").rename(root / "masks" / "043.png")
    assert train.main(["--resume", str(run)]) == 0
    assert "resuming after epoch 1 of 3" in capsys.readouterr().out
    assert [int(r["epoch"]) for r in _history(run)] == [0, 1, 2]
    assert int(files.load_model(run / "last.keras").optimizer.iterations.numpy()) == 3 * 7


def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run(tmp_path):
    run = tmp_path / "runs" / "kill"
    argv = [sys.executable, str(ROOT / "train.py"), "--model", "quarter_multiresunet", "--image-size", "64",
            "--epochs", "4", "--output", str(run.parent), "--name", "kill"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = run / "backup" / "chief" / "checkpoint"
    deadline = time.monotonic() + 90
    while not state.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "train.py ended before it could be killed"
    done_at_kill = callbacks.completed_epochs(run / "backup")
    assert 1 <= done_at_kill < 4 and not (run / "metrics.json").exists()

    resumed = subprocess.run([sys.executable, str(ROOT / "train.py"), "--resume", str(run)], capture_output=True,
                             text=True, timeout=180)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"resuming after epoch {done_at_kill} of 4" in resumed.stdout
    # Same end state as an uninterrupted 4-epoch run: 4 epochs, each once, 4 x 7 optimizer steps.
    assert [int(r["epoch"]) for r in _history(run)] == [0, 1, 2, 3]
    assert int(files.load_model(run / "last.keras").optimizer.iterations.numpy()) == 4 * 7
    assert json.loads((run / "metrics.json").read_text())["split"] == "test"
    for sub in ("validation", "train"):
        acc = EventAccumulator(str(run / "tb" / sub), size_guidance={"tensors": 0})
        acc.Reload()
        assert [e.step for e in acc.Tensors("epoch_loss")] == [0, 1, 2, 3], sub
    assert [e.step for e in acc.Tensors("01_stem/conv")] == [0, 1, 2, 3]
    assert not [p for p in run.rglob("*") if files.PARTIAL in p.name]


def test_resume_trims_history_to_the_backed_up_epochs(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,loss,val_dice\n0,1.0,0.2\n1,0.8,0.5\n2,0.7,0.9\n")
    rows = callbacks.trim_history(path, 2)  # epoch 2 was logged, then the process died before its backup
    assert [r["epoch"] for r in rows] == ["0", "1"] and path.read_text() == "epoch,loss,val_dice\n0,1.0,0.2\n1,0.8,0.5\n"
    assert callbacks.best_in_history(rows, "val_dice") == 0.5  # the resumed best.keras must beat this
    assert callbacks.trim_history(path, 0) == [] and not path.exists()


# --- atomic files ---------------------------------------------------------------------------

def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "metrics.json"
    files.atomic_write_text(path, "old")
    with pytest.raises(RuntimeError):
        with files.atomic_path(path) as tmp:
            tmp.write_text("half a fi")
            raise RuntimeError("crash while writing")
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["metrics.json"]
    files.atomic_write_text(path, "new")
    assert path.read_text() == "new" and os.listdir(tmp_path) == ["metrics.json"]


@pytest.mark.parametrize("atomic", [True, False])
def test_checkpoint_survives_a_crash_during_save(tmp_path, monkeypatch, atomic):
    inp = keras.Input((3,))
    model = keras.Model(inp, keras.layers.Dense(1, name="dense")(inp))
    path = tmp_path / "last.keras"
    cls = callbacks.AtomicModelCheckpoint if atomic else keras.callbacks.ModelCheckpoint
    callback = cls(str(path))
    callback.set_model(model)
    callback.on_epoch_end(0, {})
    good = files.load_model(path).get_weights()

    def crashing_save(self, filepath, *args, **kwargs):
        with open(filepath, "wb") as f:
            f.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(keras.Model, "save", crashing_save)
    with pytest.raises(OSError):
        callback.on_epoch_end(1, {})
    if atomic:
        np.testing.assert_array_equal(files.load_model(path).get_weights()[0], good[0])
        assert os.listdir(tmp_path) == ["last.keras"]
    else:  # the plain Keras callback leaves a broken file under the final name: what the wrapper prevents
        with pytest.raises(files.ModelFileError, match="corrupt or not a Keras model file"):
            files.load_model(path)


# --- untrusted model files ------------------------------------------------------------------

def _saved_model(path):
    inp = keras.Input((4,))
    keras.Model(inp, keras.layers.Dense(2, name="dense")(inp)).save(path)
    return path


@pytest.mark.parametrize("kind,message", [
    ("missing", "model file not found"),
    ("text", "corrupt or not a Keras model file"),
    ("truncated", "corrupt or not a Keras model file"),
    ("foreign_zip", "not a Keras model file (zip archive without config.json)"),
    ("bad_config", "cannot load model"),
    ("h5", "not a Keras model file (expected a .keras file"),
])
def test_corrupt_or_foreign_model_files_are_one_line(tmp_path, kind, message):
    path = tmp_path / ("m.h5" if kind == "h5" else "m.keras")
    if kind == "text":
        path.write_text("hello")
    elif kind == "truncated":
        _truncate(_saved_model(path))
    elif kind == "foreign_zip":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("README.txt", "photos")
    elif kind == "bad_config":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("config.json", '{"class_name": "NoSuchLayer", "config": {}}')
            z.writestr("metadata.json", "{}")
    elif kind == "h5":
        path.write_bytes(b"\x89HDF\r\n\x1a\n")
    with pytest.raises(files.ModelFileError) as e:
        files.load_model(path)
    text = str(e.value)
    assert text.startswith(f"{path}: ") and message in text and "\n" not in text, text


def test_lambda_layer_file_is_refused_without_running_its_code(tmp_path):
    marker = tmp_path / "code_ran"
    inp = keras.Input((4,))
    touch_marker = eval(f"lambda x: (open({str(marker)!r}, 'w').close(), x * 2)[1]")  # a literal path, no closure
    out = keras.layers.Lambda(touch_marker)(inp)
    path = tmp_path / "evil.keras"
    keras.Model(inp, out).save(path)
    marker.unlink()
    with pytest.raises(files.ModelFileError, match="refused to load: the file contains Python code"):
        files.load_model(path)
    assert not marker.exists()
    keras.models.load_model(path, safe_mode=False)  # control: an unsafe load does run the file's code
    assert marker.exists()


@pytest.mark.parametrize("name", zoo.list_models(pairs=False))  # the pairs: tests/test_matrix.py
def test_zoo_models_have_no_lambda_layers(name):
    model = zoo.build_model(name, input_shape=(32, 32, 3), width=0.5)
    assert not [layer.name for layer in model.layers if isinstance(layer, keras.layers.Lambda)]
