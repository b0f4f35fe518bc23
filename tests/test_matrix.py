"""Any encoder with any decoder: every pair is a registry entry `<decoder>_<encoder>` that builds flat, trains a
step, passes tfmot QAT and converts to full INT8 that LiteRT runs; the check behind
`benchmarks/results/matrix_status.json`, run afresh on small pairs; train.py's pair names.

The default run checks one encoder per family under every decoder (FAMILIES); the full cross
product is marked slow (`pytest -m slow tests/test_matrix.py`). Pairs are built in their tiny test
configuration (the entry's `small` arguments) at 32x32.
"""
import json
import re

import numpy as np
import pytest
import tf_keras as keras

import train
import zoo
from deploy import convert
from zoo.models import decoders, registry
from zoo.models.encoders import catalog, mobilenetv3
from zoo.models.pretrained import WeightsNotFound
from zoo.models.quantization import quantize_model
from zoo.models.segmentation import build_segmentation_model
from zoo.tools import matrix
from test_pretrained import offline

COVER = matrix.covering_pairs()
# The default run trains and converts one encoder per family (the same layer types at other widths and depths are
# in the slow cross product) under every decoder.
FAMILIES = ["mobilenetv3_large", "efficientnet_b0", "efficientnet_lite0", "resnet18", "resnet50", "mobilenetv2",
            "xception", "regnety_800mf"]
DEFAULT = matrix.covering_pairs(FAMILIES)
PAIRS = [pytest.param(name, id=name, marks=() if name in DEFAULT else pytest.mark.slow) for name in matrix.pairs()]
AUTO_NAME = re.compile(r"^(conv2d|batch_normalization|activation|up_sampling2d|concatenate|add|multiply)(_\d+)?$")
SIZE = 32


@pytest.mark.parametrize("name", PAIRS)
def test_pair_builds_flat_trains_quantizes_and_converts_to_int8(name):
    model = matrix.build_small(name, SIZE)
    assert model.name == name
    assert not [l for l in model.layers if isinstance(l, (keras.Model, keras.layers.Lambda))]
    assert not [l.name for l in model.layers if AUTO_NAME.match(l.name)]
    rng = np.random.default_rng(0)
    x = rng.random((2, SIZE, SIZE, 3), dtype=np.float32)
    y = (rng.random((2, SIZE, SIZE, 1)) > 0.8).astype(np.float32)
    model.compile(optimizer="adam", loss="binary_crossentropy", run_eagerly=True)  # eager: no graph to trace
    assert np.isfinite(model.train_on_batch(x, y))
    assert quantize_model(model)(x[:1]).shape == (1, SIZE, SIZE, 1)
    lite = convert.LiteRTModel(convert.to_tflite(model, "int8", [x[:1], x[1:]]))
    assert lite.input["dtype"] == np.int8 and lite.output["dtype"] == np.int8
    out = lite.predict(x)
    assert out.shape == (2, SIZE, SIZE, 1) and np.isfinite(out).all()


def test_pairs_are_registry_entries_and_the_covering_subset_has_every_part():
    assert matrix.pairs() == [f"{d}_{e}" for e in catalog.ENCODERS for d in decoders.DECODERS]
    assert sorted(matrix.pairs()) == zoo.list_models(papers=False)
    entries = [zoo.get_model_entry(n) for n in COVER]
    assert {e.encoder for e in entries} == set(catalog.ENCODERS)
    assert {e.decoder for e in entries} == set(decoders.DECODERS) == {zoo.get_model_entry(n).decoder for n in DEFAULT}
    modules = {(catalog.ENCODERS[e].module, catalog.ENCODERS[e].args.get("variant", "").startswith("lite"))
               for e in catalog.ENCODERS}
    assert len(modules) + 1 == len({zoo.get_model_entry(n).encoder for n in DEFAULT})  # ResNet twice: basic, bottleneck
    assert matrix.pairs(["resnet18"], ["fpn", "unet"]) == ["fpn_resnet18", "unet_resnet18"]


def test_check_of_one_small_pair():
    """What `python -m zoo.tools.matrix --check` records, computed here afresh for one pair."""
    name = "unet_resnet18"
    result = matrix.check_pair(name)
    assert (result["model"], result["encoder"], result["decoder"]) == (name, "resnet18", "unet")
    assert result["qat"] is True and result["int8"] is True, result
    tpu = result["edgetpu"]
    assert 0 < tpu["mapped"] <= tpu["ops"] and (tpu["first_fallback"] is None) == (tpu["mapped"] == tpu["ops"])
    assert result["params_small"] == matrix.build_small(name).count_params()
    assert matrix.marks(result).split()[:2] == ["yes", "yes"]


def test_unknown_names_are_one_line_with_suggestions():
    with pytest.raises(KeyError, match="Did you mean 'resnet34'") as err:
        build_segmentation_model("resnet43", "unet")
    assert "\n" not in str(err.value)
    with pytest.raises(registry.UnknownModelError, match="Did you mean 'unetpp_resnet18'"):
        zoo.build_model("unetppp_resnet18")
    with pytest.raises(KeyError, match="unknown decoder 'fnp'. Did you mean 'fpn'?"):
        registry.resolve_model_name("fnp", "resnet18")
    with pytest.raises(KeyError, match="unknown encoder 'efficientnet_b9'. Did you mean 'efficientnet_b"):
        registry.resolve_model_name("unet", "efficientnet_b9")
    with pytest.raises(ValueError, match="output_stride 16 or 8"):
        zoo.build_model("deeplabv3plus_resnet18", output_stride=32)


def test_feature_channels_and_input_normalization():
    assert catalog.feature_channels("resnet50") == {2: 64, 4: 256, 8: 512, 16: 1024, 32: 2048}
    assert catalog.feature_channels("efficientnet_b0") == {2: 16, 4: 24, 8: 40, 16: 112, 32: 320}
    assert zoo.get_model_entry("fpn_mobilenetv3_small").input_normalization == mobilenetv3.INPUT_NORMALIZATION
    assert zoo.get_model_info("fpn_mobilenetv3_small")["input_normalization"] == mobilenetv3.INPUT_NORMALIZATION


def test_fpn_and_deep_supervision_graphs():
    fpn = matrix.build_small("fpn_resnet18", SIZE)
    names = {l.name for l in fpn.layers}
    assert {"fpn_lateral32", "fpn_p4_add", "fpn_seg32_2_up", "fpn_seg4_0_conv", "fpn_merge", "head_up"} <= names
    assert "fpn_seg4_0_up" not in names and fpn.get_layer("head_up").size == (4, 4)
    small = zoo.get_model_entry("unetpp_resnet18").small
    ds = matrix.build_small("unetpp_resnet18", SIZE, decoder_args={**small["decoder_args"], "deep_supervision": True})
    assert ds.layers[-1].name == "head_average" and {"head1_up", "head4_conv"} <= {l.name for l in ds.layers}
    assert ds.output_shape == (None, SIZE, SIZE, 1)


def test_named_models_are_shortcuts_of_their_pairs():
    for name in ("efficientunetpp", "xceptionunetpp", "deeplabv3plus_mobilenetv3", "unet_mobilenetv3",
                 "resnet_rfe_unet"):
        entry = zoo.get_model_entry(name)
        pair = zoo.get_model_entry(f"{entry.decoder}_{entry.encoder}")
        assert entry.kind == "paper" and pair.kind == "pair"
        assert entry.input_normalization == pair.input_normalization
    short = zoo.build_model("unet_mobilenetv3", input_shape=(SIZE, SIZE, 3), variant="small", minimalistic=True,
                            decoder_channels=(16, 8, 8, 8, 8))
    pair = zoo.build_model("unet_mobilenetv3_small", input_shape=(SIZE, SIZE, 3),
                           encoder_args={"alpha": 0.75, "minimalistic": True},
                           decoder_args={"decoder_channels": (16, 8, 8, 8, 8)})
    assert [l.name for l in short.layers] == [l.name for l in pair.layers]
    assert short.count_params() == pair.count_params()


def test_pair_imagenet_weights_by_name(tmp_path, monkeypatch):
    ref = mobilenetv3.keras_reference("small", alpha=1.0, input_shape=(64, 64, 3))
    for w in ref.weights:
        w.assign(np.random.default_rng(1).normal(size=w.shape).astype(np.float32))
    ref.save_weights(tmp_path / mobilenetv3.imagenet_filename("small", 1.0))
    model = zoo.build_model("fpn_mobilenetv3_small", input_shape=(64, 64, 3), encoder_weights=tmp_path)
    np.testing.assert_array_equal(model.get_layer("expanded_conv_3/expand").get_weights()[0],
                                  ref.get_layer("expanded_conv_3/expand").get_weights()[0])
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "empty"))
    offline(monkeypatch)
    with pytest.raises(WeightsNotFound, match="resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"):
        zoo.build_model("unet_resnet50", input_shape=(SIZE, SIZE, 3), encoder_weights="imagenet")


def test_cli_takes_a_pair_by_name_or_by_its_parts():
    cfg, _ = train.parse_args(["--model", "unet_mobilenetv3_small", "--encoder-weights", "imagenet"])
    assert (cfg.model, cfg.encoder_weights) == ("unet_mobilenetv3_small", "imagenet")
    assert cfg.input_normalization == mobilenetv3.INPUT_NORMALIZATION
    legacy, _ = train.parse_args(["--model", "unet", "--encoder", "mobilenetv3_small"])
    assert legacy.model == "unet_mobilenetv3_small" and legacy.input_normalization == cfg.input_normalization
    assert train.parse_args(["--model", "unet"])[0].model == "unet"  # paper 002's U-Net, not a pair


@pytest.mark.parametrize("args,words", [
    (["--model", "unet", "--encoder", "efficientnet_b9"], ("efficientnet_b9", "Did you mean", "efficientnet_b0")),
    (["--model", "fnp", "--encoder", "resnet18"], ("fnp", "Did you mean", "fpn")),
    (["--model", "fpn"], ("unknown model 'fpn'", "<decoder>_<encoder>")),
])
def test_cli_pair_errors_are_one_line_exit_2(args, words, capsys):
    with pytest.raises(SystemExit) as e:
        train.parse_args(args)
    err = capsys.readouterr().err
    assert e.value.code == 2 and all(w in err for w in words) and len(err.strip().splitlines()) == 1


def test_matrix_table_shows_counts_and_recorded_marks():
    recorded = {"qat": True, "int8": True, "edgetpu": {"ops": 40, "mapped": 31, "first_fallback": "RESIZE_BILINEAR #31"}}
    status = {"size": 64, "pairs": {"fpn_resnet18": recorded}}
    table = matrix.matrix_table((64, 64, 3), ["resnet18"], ["fpn", "unet"], status=status)
    rows = {line.split()[0]: line for line in table.splitlines()[1:3]}
    c = matrix.complexity("fpn_resnet18", (64, 64, 3))
    assert f"{c['params'] / 1e6:.3f}M" in rows["fpn_resnet18"] and f"{c['macs'] / 1e9:.3f}G" in rows["fpn_resnet18"]
    assert rows["fpn_resnet18"].endswith(matrix.marks(recorded)) and matrix.marks(recorded).split() == ["yes", "yes", "31/40"]
    assert rows["unet_resnet18"].endswith(matrix.marks(None)) and "at 64x64x3" in table


def test_train_and_resume_a_pair(tmp_path, sample_data):
    small = zoo.get_model_entry("fpn_mobilenetv3_small").small
    common = ["--data", str(sample_data), "--image-size", "32", "--batch-size", "8", "--histogram-freq", "0",
              "--cache", "none"]
    code = train.main(["--model", "fpn_mobilenetv3_small", "--epochs", "1", "--output", str(tmp_path), "--name", "r",
                       "--model-arg", f"encoder_args={small['encoder_args']!r}",
                       "--model-arg", f"decoder_args={small['decoder_args']!r}", *common])
    assert code == 0
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())
    assert cfg["model"] == "fpn_mobilenetv3_small" and cfg["input_normalization"]["mean"] == [0.5, 0.5, 0.5]
    assert train.main(["--resume", str(tmp_path / "r"), "--epochs", "2"]) == 0
    assert len((tmp_path / "r" / "history.csv").read_text().strip().splitlines()) == 3
    assert keras.models.load_model(tmp_path / "r" / "best.keras").name == "fpn_mobilenetv3_small"


def test_check_runs_each_pair_in_its_own_process(tmp_path):
    """`python -m zoo.tools.matrix --check` isolates pairs: a result comes back from a child process as JSON,
    and a child that dies is recorded as that pair's failure instead of ending the whole check."""
    status = matrix.run_checks(["fpn_mobilenetv3_small"], path=tmp_path / "status.json", log=lambda *_: None)
    result = status["pairs"]["fpn_mobilenetv3_small"]
    assert result["qat"] is True and result["int8"] is True
    assert result["params_small"] == matrix.build_small("fpn_mobilenetv3_small").count_params()
    assert json.loads((tmp_path / "status.json").read_text())["pairs"] == status["pairs"]
    dead = matrix.check_pair_in_subprocess("fpn_no_such_encoder")  # the child raises UnknownModelError: exit code 1
    assert dead["qat"] == dead["int8"] == dead["edgetpu"]
    assert dead["qat"].startswith("check process exited with code 1: zoo.models.registry.UnknownModelError")
    assert "fpn_no_such_encoder" in dead["qat"]

