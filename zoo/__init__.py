"""edgeseg model zoo: binary segmentation models that survive pruning, QAT and INT8 export.

Importing `zoo` selects Keras 2 (`tf_keras`) for TensorFlow, because tensorflow-model-optimization
supports Keras 2 only. This must happen before TensorFlow is first imported, so import `zoo`
(or anything under it) before `tensorflow`.
"""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide TensorFlow's C++ start-up chatter

from zoo.registry import build_model, get_model_info, list_models, register_model  # noqa: E402

# One import line per model family: importing a family registers its models.
from zoo import unet  # noqa: E402,F401
from zoo import multiresunet  # noqa: E402,F401
from zoo import deeplabv3plus  # noqa: E402,F401
from zoo import rfe_unet  # noqa: E402,F401
from zoo import unetpp  # noqa: E402,F401
from zoo import segnet  # noqa: E402,F401
from zoo import hrnet  # noqa: E402,F401

__all__ = ["build_model", "get_model_info", "list_models", "register_model"]
