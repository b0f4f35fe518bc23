"""Speed switches: mixed precision, XLA and the input-pipeline settings each train a few steps
with a finite loss, a mixed-precision run exports float32 weights whose TFLite output matches the
float32 path, and XLA's one unsupported op in the zoo (nearest-upsampling gradient) is one line."""
import json
import sys

import numpy as np
import pytest
import tf_keras as keras

import train
import zoo
from conftest import ROOT
from deploy import convert
from zoo.training import data, precision

TINY = ["--model", "quarter_multiresunet", "--image-size", "32", "--epochs", "1", "--histogram-freq", "0",
        "--no-augment"]


def _run(tmp_path, name, *flags):
    code = train.main([*TINY, "--output", str(tmp_path), "--name", name, *flags])
    assert code == 0
    history = (tmp_path / name / "history.csv").read_text().splitlines()
    loss = float(dict(zip(history[0].split(","), history[1].split(",")))["loss"])
    assert np.isfinite(loss)
    return json.loads((tmp_path / name / "metrics.json").read_text())


@pytest.mark.parametrize("flags", [
    ("--mixed-precision", "mixed_bfloat16"),
    ("--jit-compile", "--model-arg", "upsample=bilinear"),
    ("--cache", "disk", "--prefetch", "2", "--decode-workers", "2"),
    ("--cache", "none"),
])
def test_each_switch_trains_with_finite_loss(tmp_path, flags):
    metrics = _run(tmp_path, "run", *flags)
    assert metrics["precision"] == ("mixed_bfloat16" if "--mixed-precision" in flags else "float32")
    assert keras.mixed_precision.global_policy().name == "float32"  # restored for whatever runs next
    assert not (tmp_path / "run" / "cache").exists()  # the disk cache is scratch


def test_mixed_precision_model_exports_float32_weights_that_match(tmp_path):
    x = np.random.default_rng(0).random((2, 32, 32, 3), dtype=np.float32)
    with precision.global_policy("mixed_bfloat16"):
        mixed = zoo.build_model("half_multiresunet", input_shape=(32, 32, 3))
    assert mixed.get_layer("stem_conv").compute_dtype == "bfloat16"
    assert mixed.output.dtype == "float32"  # the head's activation stays float32
    mixed.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    f32 = precision.float32_copy(loaded)
    assert precision.is_float32(f32) and not precision.is_float32(loaded)
    for a, b in zip(f32.get_weights(), mixed.get_weights()):
        np.testing.assert_array_equal(a, b)  # exact: mixed-precision weights are float32 already
    # Same function up to bfloat16 rounding of activations; the TFLite file equals the float32 model.
    np.testing.assert_allclose(f32(x).numpy(), mixed(x).numpy(), atol=0.05)
    lite = convert.LiteRTModel(convert.to_tflite(f32, "fp32"))
    np.testing.assert_allclose(lite.predict(x), f32(x).numpy(), atol=1e-5)
    assert "CAST" not in {op["op"] for op in convert.list_ops(convert.to_tflite(f32, "fp32"))}


def test_xla_failure_is_one_line_naming_the_op_and_the_fix(tmp_path, capsys):
    code = train.main([*TINY, "--output", str(tmp_path), "--name", "xla", "--jit-compile"])
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == ("error: --jit-compile: XLA cannot compile quarter_multiresunet (op ResizeNearestNeighborGrad); "
                   "run without --jit-compile or --model-arg upsample=bilinear")


def test_disk_cache_dataset_equals_memory_cache(tmp_path, sample_data):
    pairs = data.find_pairs(sample_data)[:5]
    cfg = data.DataConfig((32, 32), 3)
    mem = data.make_dataset(pairs, cfg, batch_size=5, cache="memory")
    disk = data.make_dataset(pairs, cfg, batch_size=5, cache=str(tmp_path / "c" / "train"), prefetch=0,
                             decode_workers=1)
    for epoch in range(2):  # the first pass writes the cache files, the second reads them
        (xm, ym), (xd, yd) = list(mem)[0], list(disk)[0]
        np.testing.assert_array_equal(xm.numpy(), xd.numpy())
        np.testing.assert_array_equal(ym.numpy(), yd.numpy())
        assert list((tmp_path / "c").glob("train*.index"))


def test_training_speed_benchmark_runs_at_toy_size(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import training_speed

    out = tmp_path / "speed.md"
    assert training_speed.main(["--model", "quarter_multiresunet", "--image-size", "32", "--steps", "1",
                                "--repeats", "1", "--output", str(out)]) == 0
    rows = [r for r in out.read_text().splitlines() if r.startswith("| ") and "images/s" not in r]
    assert len(rows) == 7 and all(float(r.split("|")[2]) > 0 for r in rows)
