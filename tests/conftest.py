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


# Registry-wide tests (test_models, test_deploy) build these models small, with the same layer types
# but fewer blocks and channels, to keep the default run fast; each model's own test file checks it
# at full size.
# (MobileNet minimalistic = no hard-swish or squeeze-excite; test_mobilenet checks those layers.)
SMALL_MODEL_KWARGS = {
    "unet": {"filters": (8, 16, 32, 64, 128)},  # same graph, 1/7 of the channels; full size in test_models
    "multiresunet": {"filters": (6, 12, 24, 48, 120), "stem_filters": 8},  # 1/6 of the channels
    "resnet_rfe_unet": {"depth": 18, "width": 0.125, "rfe_levels": (16,)},  # full sizes in test_resnet_rfe
    "deeplabv3plus_mobilenetv3": {"variant": "small", "minimalistic": True, "decoder_channels": 32},
    "unet_mobilenetv3": {"variant": "small", "minimalistic": True, "decoder_channels": (32, 16, 16, 8, 8)},
    "efficientunetpp": {"variant": (0.25, 0.1), "width": 0.25},  # 7 MBConv blocks instead of 16
    "unetpp": {"depth": 2, "filters": 8},
    "segnet": {"width": 0.125},  # full sizes in test_segnet_hrnet
    "hrnet_w18": {"width": 0.25, "num_blocks": 1, "num_modules": (1, 1, 1)},
    "xceptionunetpp": {"encoder_args": {"width": 0.125}, "width": 0.25},  # full pair sizes in test_matrix
}


def small_kwargs(name: str) -> dict:
    """Builder arguments that make model `name` small for the registry-wide tests (empty for small models)."""
    return dict(SMALL_MODEL_KWARGS.get(name, {}))
