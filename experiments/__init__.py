"""Experiments that reproduce a paper's study with the zoo: `python -m experiments.grid` is paper 001's
optimizer x loss x compression grid (Table 3)."""
import zoo  # noqa: F401  selects Keras 2 before TensorFlow is imported
