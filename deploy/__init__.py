"""Compression and edge deployment: pruning, PTQ and QAT INT8, TFLite/ONNX/C export, TFLite-Micro and
Edge TPU checks, and a float-vs-INT8 report. Entry points: `deploy.pipeline.run` and `python -m deploy`."""
import zoo  # noqa: F401  (selects Keras 2 before TensorFlow loads)
