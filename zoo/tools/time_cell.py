"""Benchmark: how long will a grid take here? Times a few training steps (float, QAT, pruning) and the two
INT8 conversions of one cell with the grid's settings, then extrapolates to the whole grid.

    python -m zoo.tools.time_cell --data ../shared/data/dsb2018_nuclei          # the full preset
    python -m zoo.tools.time_cell --quick

Takes the same flags as `python -m zoo.tools.grid`. Random weights: only the time is measured.
"""
from __future__ import annotations

import math
import sys
import time

from zoo import quiet
from zoo.tools import grid


def _step_seconds(model, x, y, loss, optimizer, lr, steps, callbacks=()) -> float:
    """Median seconds of one training step after a warm-up step (graph mode, as the full preset trains)."""
    import statistics

    import tf_keras as keras

    from zoo.training import loop, callbacks
    from zoo.training.losses import get_loss

    model.compile(optimizer=loop.make_optimizer(optimizer, lr), loss=get_loss(loss))
    times = []

    class Clock(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.t = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            times.append(time.perf_counter() - self.t)

    model.fit(x, y, batch_size=len(x), epochs=steps + 1, verbose=0, callbacks=[Clock(), *callbacks])
    return statistics.median(times[1:])


def main(argv=None) -> int:
    cfg, args = grid.parse_args(argv)  # first: --help and argument errors without TensorFlow
    import numpy as np
    import tensorflow_model_optimization as tfmot

    import zoo
    from deploy import convert
    from zoo.training import data
    from zoo.models.quantization import quantize_model

    grid.check_config(cfg)
    pairs = data.find_pairs(cfg.data)[:cfg.max_images or None]
    train, val, test = data.split_pairs(pairs, val_fraction=cfg.val_fraction, test_fraction=cfg.test_fraction, seed=cfg.seed)
    shape = (cfg.image_size, cfg.image_size, cfg.channels)
    rng = np.random.default_rng(0)
    x = rng.random((cfg.batch_size, *shape), dtype=np.float32)
    y = (rng.random((cfg.batch_size, *shape[:2], 1)) < 0.3).astype(np.float32)
    loss, optimizer = cfg.losses[0], cfg.optimizers[0]
    model = zoo.build_model(cfg.model, input_shape=shape)
    t_base = _step_seconds(model, x, y, loss, optimizer, cfg.lr, 3)
    print(f"training step {t_base:.2f} s", flush=True)
    t_qat = _step_seconds(quantize_model(model), x[:cfg.qat_batch_size], y[:cfg.qat_batch_size], loss, optimizer,
                          cfg.finetune_lr, 3)
    print(f"QAT step {t_qat:.2f} s", flush=True)
    calibration = [x[i:i + 1] for i in range(min(len(x), cfg.calibration_images))]
    start = time.perf_counter()
    convert.to_tflite(model, "int8", calibration)
    t_ptq = time.perf_counter() - start
    print(f"INT8 conversion {t_ptq:.0f} s", flush=True)
    start = time.perf_counter()
    convert.to_tflite(quantize_model(model), "qat", calibration)
    t_qat_convert = time.perf_counter() - start
    print(f"QAT conversion {t_qat_convert:.0f} s", flush=True)
    api = tfmot.sparsity.keras  # last: pruning wraps the model's layers in place
    t_prune = _step_seconds(api.prune_low_magnitude(model, pruning_schedule=api.ConstantSparsity(0.5, 0)), x, y, loss,
                            optimizer, cfg.finetune_lr, 3, [api.UpdatePruningStep()])

    steps = math.ceil(len(train) / cfg.batch_size)
    qat_steps = math.ceil(len(train) / cfg.qat_batch_size)
    cell = {"base training": cfg.epochs * steps * t_base, "ptq conversion": t_ptq,
            "qat fine-tune + conversion": cfg.finetune_epochs * qat_steps * t_qat + t_qat_convert,
            "pruning fine-tune": cfg.finetune_epochs * steps * t_prune}
    cells = len(cfg.losses) * len(cfg.optimizers)
    print(f"{cfg.model} at {cfg.image_size}x{cfg.image_size}, {len(train)} training images: step {t_base:.2f} s "
          f"(batch {cfg.batch_size}), QAT step {t_qat:.2f} s (batch {cfg.qat_batch_size}), pruning step {t_prune:.2f} s, "
          f"INT8 conversion {t_ptq:.0f} s, QAT conversion {t_qat_convert:.0f} s")
    for k, v in cell.items():
        print(f"  {k:28s} {v / 3600:8.2f} h")
    total = sum(cell.values())
    print(f"one cell {total / 3600:.2f} h; {cells} cells {cells * total / 3600:.1f} h "
          f"(training only; evaluation adds seconds per variant)")
    return 0


if __name__ == "__main__":
    sys.exit(quiet.entry_point(main))
