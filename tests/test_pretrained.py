"""ImageNet weights files (`zoo.models.pretrained.weights_file`): downloaded into the Keras cache on first use
from keras.applications' URLs, checked against their published hashes, used from the cache without network,
one-line errors offline or on a hash mismatch. No test uses the network: downloads are `file://` URLs in
tmp_path, the cache is `$KERAS_HOME/models` in tmp_path, and the tests of the real files' errors replace
the download with one that fails as offline (`offline` below)."""
import hashlib
import inspect

import numpy as np
import pytest

import zoo
from zoo.models import pretrained
from zoo.models.encoders import efficientnet as effnet
from zoo.models.encoders import mobilenetv2, mobilenetv3, regnet, resnet, xception
from zoo.models.pretrained import KERAS_WEIGHTS, WeightsNotFound, weights_file

NAME = "efficientnetb0_notop.h5"  # any file of the table; its URL and hash are replaced by local ones


def offline(monkeypatch):
    """Make every download fail as `keras.utils.get_file` does on a machine without network."""
    def fetch(filename, url, file_hash, cache):  # get_file raises a bare Exception for urllib errors
        raise Exception(f"URL fetch failure on {url}: None -- [Errno -3] Temporary failure in name resolution")  # noqa: TRY002
    monkeypatch.setattr(pretrained, "fetch", fetch)


def no_download(filename, url, file_hash, cache):
    raise AssertionError(f"downloaded {url}")


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@pytest.fixture
def served(tmp_path, monkeypatch):
    """A weights file at a file:// URL, the table pointing `NAME` at it with its md5, an empty KERAS_HOME."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))
    server = tmp_path / "server"
    server.mkdir()
    data = b"official weights " * 1000
    (server / NAME).write_bytes(data)
    monkeypatch.setitem(KERAS_WEIGHTS, NAME, ((server / NAME).as_uri(), md5(data)))
    return server / NAME


def test_table_is_keras_applications_urls_and_hashes():
    from tf_keras.src.applications import efficientnet as k_eff
    from tf_keras.src.applications import mobilenet_v2 as k_mv2
    from tf_keras.src.applications import mobilenet_v3 as k_mv3
    from tf_keras.src.applications import regnet as k_reg
    from tf_keras.src.applications import resnet as k_res
    from tf_keras.src.applications import xception as k_xc

    expected = {}
    for alpha in mobilenetv2.ALPHAS:
        for rows in mobilenetv2.ROWS:
            name = mobilenetv2.imagenet_filename(alpha, rows)
            expected[name] = (k_mv2.BASE_WEIGHT_PATH + name, None)  # Keras checks no hash for MobileNetV2
    assert "file_hash" not in inspect.getsource(k_mv2)
    for variant in mobilenetv3.VARIANTS:
        for alpha, minimalistic in ((0.75, False), (1.0, False), (1.0, True)):
            name = mobilenetv3.imagenet_filename(variant, alpha, minimalistic)
            key = f"{variant}{'_minimalistic' if minimalistic else ''}_224_{alpha}_float"
            expected[name] = (k_mv3.BASE_WEIGHT_PATH + name, k_mv3.WEIGHTS_HASHES[key][1])
    for depth in (50, 101):
        name = resnet.weights_filename(depth)
        expected[name] = (k_res.BASE_WEIGHTS_PATH + name, k_res.WEIGHTS_HASHES[f"resnet{depth}"][1])
    for variant in effnet.VARIANTS:
        name = effnet.weights_filename(variant)
        expected[name] = (k_eff.BASE_WEIGHTS_PATH + name, k_eff.WEIGHTS_HASHES[variant][1])
    for variant in regnet.VARIANTS:
        name = regnet.weights_filename(variant)
        expected[name] = (k_reg.BASE_WEIGHTS_PATH + name, k_reg.WEIGHTS_HASHES[variant][1])
    notop_hash = inspect.getsource(k_xc).split("TF_WEIGHTS_PATH_NO_TOP,", 1)[1].split('file_hash="', 1)[1][:32]
    expected[xception.WEIGHTS_FILE] = (k_xc.TF_WEIGHTS_PATH_NO_TOP, notop_hash)
    assert KERAS_WEIGHTS == expected


def test_downloads_on_first_use_then_uses_the_cache_without_network(served, tmp_path, monkeypatch):
    cached = tmp_path / "home" / "models" / NAME
    assert weights_file(NAME) == cached and cached.read_bytes() == served.read_bytes()
    monkeypatch.setattr(pretrained, "fetch", no_download)
    assert weights_file(NAME) == weights_file(NAME, "imagenet") == cached
    # A given path is used as it is, never checked against the hash nor downloaded.
    (tmp_path / NAME).write_bytes(b"someone's own weights")
    assert weights_file(NAME, tmp_path) == tmp_path / NAME


def test_sha256_hashes_are_checked_too(served, tmp_path, monkeypatch):
    monkeypatch.setitem(KERAS_WEIGHTS, NAME, (served.as_uri(), hashlib.sha256(served.read_bytes()).hexdigest()))
    assert weights_file(NAME).read_bytes() == served.read_bytes()
    monkeypatch.setitem(KERAS_WEIGHTS, NAME, (served.as_uri(), "0" * 64))
    with pytest.raises(WeightsNotFound, match="does not match its published hash 0{64}"):
        weights_file(NAME)


def test_download_with_the_wrong_hash_is_one_line_and_not_kept(served, tmp_path, monkeypatch):
    monkeypatch.setitem(KERAS_WEIGHTS, NAME, (served.as_uri(), md5(b"the published file")))
    with pytest.raises(WeightsNotFound) as err:
        weights_file(NAME)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"{NAME} downloaded from {served.as_uri()} does not match its "
                                              f"published hash {md5(b'the published file')}")
    assert f"put it in {tmp_path / 'home' / 'models'}" in msg
    assert not (tmp_path / "home" / "models" / NAME).exists()


def test_offline_is_one_line_naming_the_file_url_and_cache(served, tmp_path, monkeypatch):
    url = (tmp_path / "nowhere" / NAME).as_uri()  # fails like a URL without network
    monkeypatch.setitem(KERAS_WEIGHTS, NAME, (url, md5(served.read_bytes())))
    with pytest.raises(WeightsNotFound) as err:
        weights_file(NAME)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"ImageNet weights {NAME} are not on this machine and could not be "
                                              "downloaded (")
    assert msg.endswith(f"download {url} and put it in {tmp_path / 'home' / 'models'}, or pass --encoder-weights "
                        f"/path/to/{NAME}")
    assert not (tmp_path / "home" / "models" / NAME).exists()


def test_corrupt_cached_file_is_downloaded_again_or_one_line_offline(served, tmp_path, monkeypatch):
    cached = tmp_path / "home" / "models" / NAME
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"truncated")
    assert weights_file(NAME) == cached and cached.read_bytes() == served.read_bytes()  # fetched again

    cached.write_bytes(b"truncated")
    url, file_hash = KERAS_WEIGHTS[NAME]
    served.unlink()  # now the download fails
    with pytest.raises(WeightsNotFound) as err:
        weights_file(NAME)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"the cached {cached} does not match its published hash {file_hash} "
                                              "and a fresh copy could not be downloaded (")
    assert f"download {url} and put it in" in msg


def test_unknown_file_is_one_line():
    with pytest.raises(WeightsNotFound, match="^mystery.h5: keras.applications publishes no such"):
        weights_file("mystery.h5")


def test_encoder_weights_imagenet_downloads_and_loads(tmp_path, monkeypatch):
    """`encoder_weights="imagenet"` end to end: the official-layout file comes from its URL into the cache."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))
    name = mobilenetv3.imagenet_filename("small", 1.0)
    ref = mobilenetv3.keras_reference("small", alpha=1.0, input_shape=(64, 64, 3))
    for w in ref.weights:
        w.assign(np.random.default_rng(1).normal(size=w.shape).astype(np.float32))
    ref.save_weights(tmp_path / name)
    monkeypatch.setitem(KERAS_WEIGHTS, name, ((tmp_path / name).as_uri(), md5((tmp_path / name).read_bytes())))
    model = zoo.build_model("fpn_mobilenetv3_small", input_shape=(64, 64, 3), encoder_weights="imagenet")
    np.testing.assert_array_equal(model.get_layer("expanded_conv_3/expand").get_weights()[0],
                                  ref.get_layer("expanded_conv_3/expand").get_weights()[0])
    assert (tmp_path / "home" / "models" / name).is_file()


def test_train_py_offline_is_one_line_exit_2(tmp_path, monkeypatch, capsys, sample_data):
    import train

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    offline(monkeypatch)
    code = train.main(["--model", "unet_efficientnet_b0", "--encoder-weights", "imagenet", "--data",
                       str(sample_data), "--image-size", "32", "--output", str(tmp_path / "runs")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("error: --encoder-weights: ImageNet weights efficientnetb0_notop.h5 ")
    assert "Temporary failure in name resolution" in err[-1] and KERAS_WEIGHTS[NAME][0] in err[-1]
