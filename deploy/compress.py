"""Compression that needs training: magnitude pruning and quantization-aware training (tfmot)."""
from __future__ import annotations

import numpy as np
import tensorflow_model_optimization as tfmot
import tf_keras as keras

sparsity_api = tfmot.sparsity.keras
PRUNE_SCHEDULES = ("constant", "polynomial")


def pruning_schedule(kind: str, target: float, *, begin_step: int, end_step: int, frequency: int,
                     initial: float = 0.0):
    """`constant`: `target` sparsity from `begin_step`; `polynomial`: `initial` -> `target` (cubic decay)
    between `begin_step` and `end_step`, masks updated every `frequency` steps (paper 001: 50 -> 90 %, 100)."""
    if not 0 < target < 1:
        raise ValueError(f"target sparsity must be in (0, 1), got {target}")
    if kind == "constant":
        return sparsity_api.ConstantSparsity(target, begin_step=begin_step, end_step=end_step, frequency=frequency)
    if kind == "polynomial":
        return sparsity_api.PolynomialDecay(initial, target, begin_step=begin_step, end_step=end_step,
                                            frequency=frequency)
    raise ValueError(f"unknown pruning schedule {kind!r}; choose from {', '.join(PRUNE_SCHEDULES)}")


def fine_tune(model, train_ds, epochs, loss, lr, callbacks=()):
    """Compile `model` with Adam(lr), `loss` and the zoo's metrics, and train it quietly for `epochs`."""
    from zoo.training.metrics import default_metrics

    model.compile(optimizer=keras.optimizers.Adam(lr), loss=loss, metrics=default_metrics())
    model.fit(train_ds, epochs=epochs, callbacks=list(callbacks), verbose=0)
    return model


def prune(model, train_ds, loss, *, sparsity=0.5, schedule="polynomial", epochs=2, lr=1e-4, frequency=None,
          m_by_n: tuple[int, int] | None = None, log_dir: str | None = None):
    """Magnitude-prune `model` while fine-tuning on `train_ds`, then strip the pruning wrappers.

    `m_by_n=(2, 4)` gives tfmot's structured 2:4 sparsity instead (the schedule is then ignored).
    Returns (stripped model, {layer: sparsity of its kernel}).
    """
    steps = epochs * int(train_ds.cardinality().numpy())
    freq = frequency or max(1, min(100, steps // 10))
    kwargs = {"sparsity_m_by_n": m_by_n} if m_by_n else {
        "pruning_schedule": pruning_schedule(schedule, sparsity, begin_step=0, end_step=max(1, steps - freq),
                                             frequency=freq)}
    wrapped = sparsity_api.prune_low_magnitude(model, **kwargs)
    callbacks = [sparsity_api.UpdatePruningStep()]
    if log_dir:
        callbacks.append(sparsity_api.PruningSummaries(log_dir=log_dir))
    fine_tune(wrapped, train_ds, epochs, loss, lr, callbacks)
    stripped = sparsity_api.strip_pruning(wrapped)
    return stripped, layer_sparsity(stripped)


def layer_sparsity(model) -> dict[str, float]:
    """Fraction of exactly-zero weights in each conv/dense kernel."""
    return {layer.name: float(np.mean(layer.kernel.numpy() == 0)) for layer in model.layers
            if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))}


def quantization_aware(model, train_ds, loss, *, epochs=2, lr=1e-4, preserve_sparsity=False, calibration=None,
                       val_data=None):
    """Fine-tune `model` with fake-quant wrappers (`zoo.models.quantization.quantize_model`), ready for int8 conversion.

    Activation ranges are first calibrated on `calibration` (input batches; default: 4 batches of `train_ds`),
    so training starts where post-training quantization is instead of tfmot's [-6, 6]. With `val_data`
    (x, y arrays) the weights of the epoch with the best pooled Dice on it are kept, the calibrated start
    counting as epoch 0, so a short fine-tune never hands back a model worse on validation than PTQ's.
    `preserve_sparsity=True` uses tfmot's prune-preserving scheme so a pruned model keeps its zeros.
    Returns (QAT model, {"val_dice_per_epoch": [...], "kept_epoch": k}).
    """
    from zoo.models.quantization import calibrate_ranges, quantize_model

    scheme = tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme() if preserve_sparsity else None
    qat = quantize_model(model, scheme)
    calibrate_ranges(qat, calibration if calibration is not None else [batch[0] for batch in train_ds.take(4)])
    if val_data is None:
        return fine_tune(qat, train_ds, epochs, loss, lr), {"kept_epoch": epochs}

    keep_best = KeepBestDice(*val_data)
    keep_best.set_model(qat)
    keep_best.on_epoch_end(-1)  # the calibrated start is epoch 0
    fine_tune(qat, train_ds, epochs, loss, lr, [keep_best])
    qat.set_weights(keep_best.best_weights)
    return qat, {"val_dice_per_epoch": keep_best.history, "kept_epoch": keep_best.best_epoch}


class KeepBestDice(keras.callbacks.Callback):
    """After each epoch, score pooled Dice on (x, y) and remember the weights of the best epoch so far."""

    def __init__(self, x, y):
        super().__init__()
        self.x, self.y = x, y
        self.history, self.best_weights, self.best_epoch = [], None, 0

    def on_epoch_end(self, epoch, logs=None):
        from zoo.training.metrics import evaluate_masks

        dice = round(evaluate_masks(self.y, self.model.predict(self.x, batch_size=8, verbose=0))["pooled_f1"], 4)
        self.history.append(dice)
        if self.best_weights is None or dice > max(self.history[:-1]):
            self.best_weights, self.best_epoch = self.model.get_weights(), epoch + 1
