"""Issue 12, any encoder with any decoder: every pair builds flat, trains a step, passes tfmot QAT and converts
to full INT8 that LiteRT runs; the CLI's --encoder, --list-models --encoders and the recorded marks.

The default run checks one encoder per family under every decoder (FAMILIES); the full cross
product is marked slow (`pytest -m slow tests/test_matrix.py`). Pairs are built in their tiny test
configuration (`zoo.tools.matrix.small_args`) at 32x32.
"""
import json
import re

import numpy as np
import pytest
import tf_keras as keras

import train
import zoo
from deploy import convert
from zoo.models import decoders
from zoo.tools import matrix
from zoo.models.encoders import catalog, mobilenetv3
from zoo.models.pretrained import WeightsNotFound
from zoo.models.quantization import quantize_model
from zoo.models.segmentation import build_segmentation_model, pair_name

COVER = matrix.covering_pairs()
# The default run trains and converts one encoder per family (the same layer types at other widths and depths are
# in the slow cross product) under every decoder; the recorded --check results cover every encoder.
FAMILIES = ["mobilenetv3_large", "efficientnet_b0", "efficientnet_lite0", "resnet18", "resnet50", "mobilenetv2",
            "xception", "regnety_800mf"]
DEFAULT = matrix.covering_pairs([e for e in FAMILIES if catalog.is_available(e)])
PAIRS = [pytest.param(e, d, id=pair_name(e, d), marks=() if (e, d) in DEFAULT else pytest.mark.slow)
         for e, d in matrix.pairs()]
AUTO_NAME = re.compile(r"^(conv2d|batch_normalization|activation|up_sampling2d|concatenate|add|multiply)(_\d+)?$")
SIZE = 32


@pytest.mark.parametrize("encoder,decoder", PAIRS)
def test_pair_builds_flat_trains_quantizes_and_converts_to_int8(encoder, decoder):
    model = matrix.build_small(encoder, decoder, SIZE)
    assert model.name == pair_name(encoder, decoder)
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


def test_covering_subset_has_every_encoder_and_decoder():
    assert {e for e, _ in COVER} == set(catalog.available_encoders())
    assert {d for _, d in COVER} == set(decoders.list_decoders()) == {d for _, d in DEFAULT}
    modules = {(catalog.get_encoder(e).module, bool(catalog.get_encoder(e).args.get("variant", "").startswith("lite")))
               for e in catalog.available_encoders()}
    assert len(modules) + 1 == len({e for e, _ in DEFAULT})  # every family once; ResNet twice (basic, bottleneck)
    assert len(matrix.pairs()) == len(catalog.available_encoders()) * len(decoders.list_decoders())


def test_recorded_status_comes_from_the_check():
    status = matrix.load_status()
    assert status["size"] == matrix.CHECK_SIZE
    for e, d in COVER:  # the check runs the covering subset first
        result = status["pairs"][pair_name(e, d)]
        assert result["qat"] is True and result["int8"] is True, result
        assert result["edgetpu"]["mapped"] <= result["edgetpu"]["ops"]
    e, d = COVER[0]
    assert status["pairs"][pair_name(e, d)]["params_small"] == matrix.build_small(e, d).count_params()


def test_unknown_names_are_one_line_with_suggestions():
    with pytest.raises(KeyError, match="Did you mean 'resnet34'") as err:
        build_segmentation_model("resnet43", "unet")
    assert "\n" not in str(err.value)
    with pytest.raises(KeyError, match="Did you mean 'unetpp'"):
        zoo.build_model("unetppp", encoder="resnet18")
    with pytest.raises(ValueError, match="output_stride 16 or 8"):
        build_segmentation_model("resnet18", "deeplabv3plus", output_stride=32)


def test_missing_modules_are_skipped_not_fatal(monkeypatch):
    monkeypatch.setitem(catalog.ENCODERS, "notyet", catalog.EncoderEntry("notyet", "no_such_module", "build"))
    assert "notyet" not in catalog.available_encoders()
    with pytest.raises(KeyError, match="unknown encoder 'notyet'"):
        catalog.get_encoder("notyet")


def test_feature_channels_and_input_normalization():
    assert catalog.feature_channels("resnet50") == {2: 64, 4: 256, 8: 512, 16: 1024, 32: 2048}
    assert catalog.feature_channels("efficientnet_b0") == {2: 16, 4: 24, 8: 40, 16: 112, 32: 320}
    info = zoo.models.segmentation.pair_info("mobilenetv3_small", "fpn")
    assert info["input_normalization"] == mobilenetv3.INPUT_NORMALIZATION


def test_fpn_and_deep_supervision_graphs():
    fpn = matrix.build_small("resnet18", "fpn", SIZE)
    names = {l.name for l in fpn.layers}
    assert {"fpn_lateral32", "fpn_p4_add", "fpn_seg32_2_up", "fpn_seg4_0_conv", "fpn_merge", "head_up"} <= names
    assert "fpn_seg4_0_up" not in names and fpn.get_layer("head_up").size == (4, 4)
    args = matrix.small_args("resnet18", "unetpp")
    ds = build_segmentation_model("resnet18", "unetpp", input_shape=(SIZE, SIZE, 3), encoder_args=args["encoder_args"],
                                  decoder_args={**args["decoder_args"], "deep_supervision": True})
    assert ds.layers[-1].name == "head_average" and {"head1_up", "head4_conv"} <= {l.name for l in ds.layers}
    assert ds.output_shape == (None, SIZE, SIZE, 1)


def test_named_models_are_shortcuts_of_their_pairs():
    for name in ("efficientunetpp", "deeplabv3plus_mobilenetv3", "unet_mobilenetv3", "resnet_rfe_unet"):
        info = zoo.get_model_info(name)
        assert info["encoder"] in catalog.ENCODERS and info["decoder"] in decoders.DECODERS
        assert info["input_normalization"] == zoo.models.segmentation.pair_info(info["encoder"], info["decoder"])["input_normalization"]
    short = zoo.build_model("unet_mobilenetv3", input_shape=(SIZE, SIZE, 3), variant="small", minimalistic=True,
                            decoder_channels=(16, 8, 8, 8, 8))
    pair = build_segmentation_model("mobilenetv3_small", "unet", input_shape=(SIZE, SIZE, 3),
                                    encoder_args={"alpha": 0.75, "minimalistic": True},
                                    decoder_args={"decoder_channels": (16, 8, 8, 8, 8)})
    assert [l.name for l in short.layers] == [l.name for l in pair.layers]
    assert short.count_params() == pair.count_params()
    assert ("xceptionunetpp" in zoo.list_models()) == catalog.is_available("xception")


def test_pair_imagenet_weights_by_name(tmp_path, monkeypatch):
    ref = mobilenetv3.keras_reference("small", alpha=1.0, input_shape=(64, 64, 3))
    for w in ref.weights:
        w.assign(np.random.default_rng(1).normal(size=w.shape).astype(np.float32))
    ref.save_weights(tmp_path / mobilenetv3.imagenet_filename("small", 1.0))
    model = zoo.build_model("fpn", encoder="mobilenetv3_small", input_shape=(64, 64, 3), encoder_weights=tmp_path)
    np.testing.assert_array_equal(model.get_layer("expanded_conv_3/expand").get_weights()[0],
                                  ref.get_layer("expanded_conv_3/expand").get_weights()[0])
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "empty"))
    with pytest.raises(WeightsNotFound, match="resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"):
        zoo.build_model("unet", encoder="resnet50", input_shape=(SIZE, SIZE, 3), encoder_weights="imagenet")


@pytest.mark.parametrize("args,message", [
    (["--model", "unet", "--encoder", "efficientnet_b9"], "unknown encoder 'efficientnet_b9'. Did you mean 'efficientnet_b"),
    (["--model", "fnp", "--encoder", "resnet18"], "unknown decoder 'fnp'. Did you mean 'fpn'?"),
    (["--model", "fpn"], "'fpn' is a decoder: add --encoder NAME"),
])
def test_cli_encoder_errors_are_one_line_exit_2(args, message, capsys):
    with pytest.raises(SystemExit) as e:
        train.parse_args(args)
    err = capsys.readouterr().err
    assert e.value.code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_cli_pair_config_records_encoder_and_normalisation():
    cfg, _ = train.parse_args(["--model", "unet", "--encoder", "mobilenetv3_small", "--encoder-weights", "imagenet"])
    assert (cfg.model, cfg.encoder, cfg.encoder_weights) == ("unet", "mobilenetv3_small", "imagenet")
    assert cfg.input_normalization == mobilenetv3.INPUT_NORMALIZATION
    assert train.run_model_name(cfg) == "unet_mobilenetv3_small"
    assert train.model_kwargs(cfg)["encoder"] == "mobilenetv3_small"
    plain, _ = train.parse_args(["--model", "unet"])
    assert plain.encoder is None and train.run_model_name(plain) == "unet"


def test_list_models_encoders_prints_measured_counts(capsys):
    cfg, args = train.parse_args(["--list-models", "--encoders", "--encoder", "resnet18"])  # every decoder
    assert args.encoders and cfg.encoder == "resnet18"
    assert train.main(["--list-models", "--encoders", "--encoder", "resnet18", "--model", "fpn", "--input-size", "64"]) == 0
    out = capsys.readouterr().out
    (row,) = [line for line in out.splitlines() if line.startswith("fpn_resnet18")]
    c = matrix.complexity("resnet18", "fpn", (64, 64, 3))
    assert f"{c['params'] / 1e6:.3f}M" in row and f"{c['macs'] / 1e9:.3f}G" in row
    result = matrix.load_status()["pairs"].get("fpn_resnet18")
    assert row.endswith(matrix.marks(result)) and "at 64x64x3" in out


def test_train_and_resume_a_pair(tmp_path, sample_data):
    small = matrix.small_args("mobilenetv3_small", "fpn")
    common = ["--data", str(sample_data), "--image-size", "32", "--batch-size", "8", "--histogram-freq", "0",
              "--cache", "none"]
    code = train.main(["--model", "fpn", "--encoder", "mobilenetv3_small", "--epochs", "1", "--output", str(tmp_path),
                       "--name", "r", "--model-arg", f"encoder_args={small['encoder_args']!r}",
                       "--model-arg", f"decoder_args={small['decoder_args']!r}", *common])
    assert code == 0
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())
    assert cfg["encoder"] == "mobilenetv3_small" and cfg["input_normalization"]["mean"] == [0.5, 0.5, 0.5]
    assert train.main(["--resume", str(tmp_path / "r"), "--epochs", "2"]) == 0
    assert len((tmp_path / "r" / "history.csv").read_text().strip().splitlines()) == 3
    assert keras.models.load_model(tmp_path / "r" / "best.keras").name == "fpn_mobilenetv3_small"


def test_check_runs_each_pair_in_its_own_process(tmp_path):
    """`python -m zoo.tools.matrix --check` isolates pairs: a result comes back from a child process as JSON,
    and a child that dies is recorded as that pair's failure instead of ending the whole check."""
    status = matrix.run_checks([("mobilenetv3_small", "fpn")], path=tmp_path / "status.json", log=lambda *_: None)
    result = status["pairs"][pair_name("mobilenetv3_small", "fpn")]
    assert result["qat"] is True and result["int8"] is True
    assert result["params_small"] == matrix.build_small("mobilenetv3_small", "fpn").count_params()
    assert json.loads((tmp_path / "status.json").read_text())["pairs"] == status["pairs"]
    dead = matrix.check_pair_in_subprocess("no_such_encoder", "fpn")  # the child raises KeyError: exit code 1
    assert dead["qat"] == dead["int8"] == dead["edgetpu"]
    assert dead["qat"].startswith("check process exited with code 1: KeyError") and "no_such_encoder" in dead["qat"]
