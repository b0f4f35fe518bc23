"""The loader reads every shared dataset and odd formats made here; splits are deterministic;
augmentation keeps image and mask aligned; the tf.data pipeline yields model-sized batches."""
import cv2
import numpy as np
import pytest
from PIL import Image

from conftest import SAMPLE_DATA, shared_dataset
from zoo.training import data


def _write_pair(root, stem, image, mask, img_ext=".png", mask_ext=".png", writer=cv2.imwrite):
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    writer(str(root / "images" / f"{stem}{img_ext}"), image)
    writer(str(root / "masks" / f"{stem}{mask_ext}"), mask)


def _blob(h=40, w=48):
    m = np.zeros((h, w), np.uint8)
    m[10:20, 12:30] = 255
    return m


def test_bundled_sample_reads_with_white_foreground():
    pairs = data.find_pairs(SAMPLE_DATA)
    assert len(pairs) == 40
    x, y = data.load_pair(pairs[0], data.DataConfig())
    assert x.shape == (256, 256, 3) and y.shape == (256, 256, 1)
    assert set(np.unique(y)) <= {0.0, 1.0}
    fractions = [data.read_mask(m).mean() for _, m in pairs]
    assert max(fractions) < 0.01 and min(fractions) > 0  # tiny particles, foreground = white


@pytest.mark.parametrize("name,count,invert,frac_range", [
    ("kvasir_seg", 1000, False, (0.004, 0.82)),
    ("cvc_clinicdb", 204, False, (0.003, 0.50)),
    ("dsb2018_nuclei", 166, False, (0.002, 0.42)),
    ("mpset_microplastics", 73, True, (0.00001, 0.004)),
])
def test_reads_shared_datasets(name, count, invert, frac_range):
    root = shared_dataset(name)
    pairs = data.find_pairs(root)
    assert len(pairs) == count
    for img_path, mask_path in pairs[:: max(1, count // 12)]:
        img = data.read_image(img_path)
        mask = data.read_mask(mask_path, invert=invert)
        assert img.dtype == np.float32 and img.ndim == 3 and img.shape[2] == 3
        assert img.shape[:2] == mask.shape[:2]
        assert 0 <= img.min() and img.max() <= 1 and img.std() > 0.01
        assert frac_range[0] <= mask.mean() <= frac_range[1], (mask_path, mask.mean())
    if name == "cvc_clinicdb":  # tifffile gives colour; OpenCV would give grey channels
        img = data.read_image(pairs[0][0])
        assert np.abs(img[..., 0] - img[..., 1]).mean() > 0.01


def test_odd_formats(tmp_path):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (40, 48, 3), np.uint8)
    m = _blob()
    # 16-bit PNG image, 1-bit BMP mask (Pillow writes mode "1" BMPs like PH2's)
    _write_pair(tmp_path, "a16", (rgb[..., 0].astype(np.uint16) * 257), m)
    Image.fromarray(m > 0).convert("1").save(tmp_path / "masks" / "a16.bmp")
    (tmp_path / "masks" / "a16.png").unlink()
    # RGBA image with a 0/1 label-map mask
    _write_pair(tmp_path, "b_rgba", np.dstack([rgb, np.full((40, 48), 255, np.uint8)]), (m > 0).astype(np.uint8))
    # grey JPEG image with a 3-channel JPEG mask carrying a "_mask" stem suffix
    _write_pair(tmp_path, "c_grey", rgb[..., 1], np.dstack([m] * 3), ".jpg", ".jpg")
    (tmp_path / "masks" / "c_grey.jpg").rename(tmp_path / "masks" / "c_grey_mask.jpg")
    # palette GIF image (OpenCV cannot read GIF; Pillow can) and a TIFF mask
    Image.fromarray(rgb).convert("P").save(tmp_path / "images" / "d_gif.gif")
    Image.fromarray(m).save(tmp_path / "masks" / "d_gif.tif")

    pairs = data.find_pairs(tmp_path)
    assert [p[0].stem for p in pairs] == ["a16", "b_rgba", "c_grey", "d_gif"]
    for img_path, mask_path in pairs:
        img, mask = data.read_image(img_path), data.read_mask(mask_path)
        assert img.shape == (40, 48, 3) and mask.shape == (40, 48, 1), img_path
        assert abs(mask.sum() - 180) <= 8, (mask_path, mask.sum())  # 10x18 blob (JPEG edges may blur)
    a16 = data.read_image(pairs[0][0])
    np.testing.assert_allclose(a16[..., 0], rgb[..., 0] / 255.0, atol=1e-6)  # 16-bit scaled by 65535
    assert data.read_image(pairs[1][0], channels=1).shape == (40, 48, 1)


def test_mask_invert_and_threshold(tmp_path):
    m = _blob()
    m[0, 0] = 100  # below threshold 127
    cv2.imwrite(str(tmp_path / "m.png"), m)
    assert data.read_mask(tmp_path / "m.png").sum() == 180
    assert data.read_mask(tmp_path / "m.png", invert=True).sum() == 40 * 48 - 180
    assert data.read_mask(tmp_path / "m.png", threshold=0.3).sum() == 181


def test_errors_name_the_file(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    with pytest.raises(data.DataError, match="no image/mask pairs"):
        data.find_pairs(tmp_path)
    with pytest.raises(data.DataError, match="nowhere: folder not found"):
        data.find_pairs(tmp_path / "nowhere")
    bad = tmp_path / "images" / "x.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(data.DataError, match="x.png: cannot decode"):
        data.read_image(bad)
    _write_pair(tmp_path, "y", np.zeros((10, 10, 3), np.uint8), np.zeros((12, 10), np.uint8))
    with pytest.raises(data.DataError, match="y.png: mask size 10x12 differs"):
        data.load_pair((tmp_path / "images" / "y.png", tmp_path / "masks" / "y.png"), data.DataConfig((8, 8)))


def test_splits_are_deterministic_and_disjoint():
    pairs = [(f"i{i}", f"m{i}") for i in range(50)]
    a = data.split_pairs(pairs, val_fraction=0.1, test_fraction=0.2, seed=3)
    b = data.split_pairs(pairs, val_fraction=0.1, test_fraction=0.2, seed=3)
    assert a == b and [len(s) for s in a] == [35, 5, 10]
    assert len({p for s in a for p in s}) == 50
    tests = []
    for k in range(5):
        train, val, test = data.kfold_pairs(pairs, folds=5, fold=k, val_fraction=0.1, seed=0)
        assert len(test) == 10 and len(val) == 4 and len(train) == 36
        assert not set(test) & (set(train) | set(val))
        tests += test
    assert sorted(tests) == sorted(pairs)  # every pair is tested exactly once


def test_fit_pad_and_restore_roundtrip():
    cfg = data.DataConfig((64, 64), fit="pad")
    img = np.random.default_rng(0).random((30, 60, 3)).astype(np.float32)
    mask = np.zeros((30, 60, 1), np.float32)
    mask[5:15, 10:40] = 1
    x, y = data.fit_to_size(img, mask, cfg, fill=0.5)
    assert x.shape == (64, 64, 3) and y.shape == (64, 64, 1)
    assert np.all(x[32:] == 0.5) and y[32:].sum() == 0  # letterbox below a 2:1 image
    back = data.restore_size(y, (30, 60), cfg)
    assert back.shape == (30, 60, 1)
    assert ((back > 0.5) == (mask > 0.5)).mean() > 0.97


def test_augmentation_keeps_image_and_mask_aligned():
    # The image carries the mask in its red channel: after any transform they must still agree.
    rng = np.random.default_rng(0)
    mask = np.zeros((64, 64, 1), np.float32)
    mask[20:40, 10:30] = 1
    img = np.dstack([mask[..., 0], rng.random((64, 64)), rng.random((64, 64))]).astype(np.float32)
    aug = data.make_augmentation(fill=0.0, brightness_contrast=0)
    changed = 0
    for seed in range(20):
        aug.set_random_seed(seed)
        out = aug(image=img, mask=mask)
        red, m = out["image"][..., 0] > 0.5, out["mask"][..., 0] > 0.5
        assert (red == m).mean() > 0.99
        changed += not np.array_equal(m, mask[..., 0] > 0.5)
    assert changed >= 10


def test_dataset_pipeline_batches(sample_data):
    pairs = data.find_pairs(sample_data)[:6]
    cfg = data.DataConfig((128, 128))
    ds = data.make_dataset(pairs, cfg, batch_size=4, augment=data.make_augmentation(0.1), shuffle=True)
    batches = list(ds)
    assert [b[0].shape[0] for b in batches] == [4, 2]
    x, y = batches[0]
    assert x.shape[1:] == (128, 128, 3) and y.shape[1:] == (128, 128, 1)
    assert set(np.unique(y.numpy())) <= {0.0, 1.0}
