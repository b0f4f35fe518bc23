"""The models: one registry (`registry.py`: every model is a `ModelEntry`), blocks as small functions
(`blocks.py`), one file per model family, and the encoder (`encoders/catalog.py`) and decoder (`decoders.py`)
catalogues whose every combination `segmentation.py` registers as the model `<decoder>_<encoder>`.

Importing this package registers every model: one import line per family.
"""
from zoo.models.registry import build_model, get_model_entry, get_model_info, list_models, register_model

from zoo.models import segmentation  # noqa: F401  (the encoder x decoder pairs)
from zoo.models import unet  # noqa: F401
from zoo.models import multiresunet  # noqa: F401
from zoo.models import deeplabv3plus  # noqa: F401
from zoo.models import rfe_unet  # noqa: F401
from zoo.models import unetpp  # noqa: F401
from zoo.models import segnet  # noqa: F401
from zoo.models import hrnet  # noqa: F401

__all__ = ["build_model", "get_model_entry", "get_model_info", "list_models", "register_model"]
