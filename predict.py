"""Segment your own images with a trained model (a run folder, .keras, .tflite or .onnx file).

    python predict.py photos/ --model runs/<run>
    python predict.py 'scans/**/*.tif' --model tflite_models/unet/unet_256x256_int8.tflite --tile --output out/
    python predict.py clip.mp4 --model model.onnx --save-prob

Writes masks (PNG 0/255, the image's size), overlays (JPEG) and predictions.csv (foreground %, particle count
and areas, mean probability) into --output. Everything is in deploy/predict.py; `--help` lists the flags.
"""
import sys

import zoo  # noqa: F401  (selects Keras 2 before TensorFlow loads)
from deploy.predict import main
from zoo import quiet

if __name__ == "__main__":
    sys.exit(quiet.entry_point(main))
