"""Shared fixtures. `import zoo` comes first: it selects Keras 2 before TensorFlow loads."""
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import zoo  # noqa: E402,F401

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
