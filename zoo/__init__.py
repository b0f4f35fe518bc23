"""edgeseg model zoo: binary segmentation models that survive pruning, QAT and INT8 export.

    zoo.models    the registry (one entry per model: paper models and encoder x decoder pairs), blocks,
                  model families, encoders and decoders
    zoo.training  the run record, data, losses, metrics, the training loop and its callbacks
    zoo.tools     histogram analysis, the encoder x decoder pairs' check, paper recipes, paper 001's grid

Importing `zoo` selects Keras 2 (`tf_keras`) for TensorFlow, because tensorflow-model-optimization
supports Keras 2 only. This must happen before TensorFlow is first imported, so import `zoo`
(or anything under it) before `tensorflow`. The import itself is light: `zoo.build_model` & co. load the
models, and with them TensorFlow, on first use, so the command lines answer `--help` at once.
"""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide TensorFlow's C++ start-up chatter

__all__ = ["build_model", "get_model_entry", "get_model_info", "list_models", "register_model"]


def __getattr__(name):
    """`zoo.build_model` & co. import the models (and TensorFlow) on first use, so that `import zoo` stays light:
    the command lines parse their flags and answer `--help` without loading TensorFlow."""
    if name in __all__:
        from zoo import models

        return getattr(models, name)
    if name in ("models", "training", "tools"):  # `zoo.models.registry` after a bare `import zoo`, as before
        import importlib

        return importlib.import_module(f"zoo.{name}")
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")
