"""Shared fixtures. `import zoo` comes first: it selects Keras 2 before TensorFlow loads."""
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import zoo  # noqa: E402,F401
import zoo.models  # noqa: E402,F401  (registers the custom layers for tests that load .keras files directly)

SHARED_DATA = ROOT.parent / "shared" / "data"
SAMPLE_DATA = ROOT / "data" / "sample_microplastics"


def shared_dataset(name: str) -> Path:
    """Path of a dataset in ../shared/data, or skip the test with the reason."""
    path = SHARED_DATA / name
    if not (path / "images").is_dir():
        pytest.skip(f"{path} is absent (../shared/data is only beside the project on CI and dev machines)")
    return path


@pytest.fixture(autouse=True)
def _seeded():
    """Every test starts from the same random state, whatever ran before it (or in which pytest-xdist worker)."""
    import tf_keras as keras

    keras.utils.set_random_seed(0)


@pytest.fixture
def sample_data() -> Path:
    return SAMPLE_DATA


# --- small synthetic datasets (the bad-input corpora start from these) ---------------------------

def random_image(seed=0, h=40, w=48):
    """An RGB uint8 image of noise."""
    import numpy as np

    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), np.uint8)


def box_mask(h=40, w=48):
    """A 0/255 uint8 mask with one rectangle of foreground."""
    import numpy as np

    m = np.zeros((h, w), np.uint8)
    m[10:25, 12:30] = 255
    return m


def write_dataset(root, n=6):
    """`root/images` and `root/masks` with n PNG pairs p0..p{n-1}; returns root."""
    import cv2

    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(n):
        cv2.imwrite(str(root / "images" / f"p{i}.png"), random_image(i))
        cv2.imwrite(str(root / "masks" / f"p{i}.png"), box_mask())
    return root
