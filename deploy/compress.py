"""Compression that needs training: magnitude pruning and quantization-aware training (tfmot).

Both fine-tune with `fine_tune`: Adam at `lr` unless given another `optimizer`, a name from
`zoo.training.loop.OPTIMIZERS` (built at `lr`) or a Keras optimizer instance (used as given; build one
per call). `python -m deploy` uses the defaults; paper 001's grid (`zoo.tools.grid`) passes each cell's
optimizer and loss.
"""
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


def pruning_end_step(steps: int, frequency: int) -> int:
    """The last mask update within `steps` training steps (a multiple of `frequency`), so that the schedule's
    final sparsity is reached by the end of fine-tuning."""
    return max(frequency, (steps - 1) // frequency * frequency)


def make_optimizer(optimizer="adam", lr=1e-4):
    """A Keras optimizer instance as given, or one by name (`zoo.training.loop.OPTIMIZERS`) at `lr`."""
    if isinstance(optimizer, str):
        from zoo.training.loop import make_optimizer as by_name

        return by_name(optimizer, lr)
    return optimizer


def fine_tune(model, train_ds, epochs, loss, lr=1e-4, callbacks=(), *, optimizer="adam", run_eagerly=False):
    """Compile `model` with `optimizer` (a name, built at `lr`, or a Keras optimizer instance), `loss` (a loss
    or its name in `zoo.training.losses`) and the zoo's metrics, and train it quietly for `epochs`."""
    from zoo.training.losses import get_loss
    from zoo.training.metrics import default_metrics

    model.compile(optimizer=make_optimizer(optimizer, lr), loss=get_loss(loss) if isinstance(loss, str) else loss,
                  metrics=default_metrics(), run_eagerly=run_eagerly)
    model.fit(train_ds, epochs=epochs, callbacks=list(callbacks), verbose=0)
    return model


def prune(model, train_ds, loss, *, sparsity=0.5, schedule="polynomial", initial_sparsity=0.0, epochs=2, lr=1e-4,
          optimizer="adam", frequency=None, m_by_n: tuple[int, int] | None = None, log_dir: str | None = None,
          run_eagerly=False):
    """Magnitude-prune a copy of `model` while fine-tuning on `train_ds`, then strip the pruning wrappers.

    The schedule (`pruning_schedule`: `constant`, or `polynomial` from `initial_sparsity` to `sparsity`) updates
    the masks every `frequency` steps (default: a tenth of the steps, at most 100) up to the last update within
    `epochs` (`pruning_end_step`). `m_by_n=(2, 4)` gives tfmot's structured 2:4 sparsity instead (the schedule
    is then ignored). `model` itself is left unchanged (tfmot wraps the layers of the model it is given in place).
    Returns (stripped model, {layer: sparsity of its kernel}).
    """
    steps = epochs * int(train_ds.cardinality().numpy())
    freq = frequency or max(1, min(100, steps // 10))
    kwargs = {"sparsity_m_by_n": m_by_n} if m_by_n else {
        "pruning_schedule": pruning_schedule(schedule, sparsity, initial=initial_sparsity, begin_step=0,
                                             end_step=pruning_end_step(steps, freq), frequency=freq)}
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    wrapped = sparsity_api.prune_low_magnitude(copy, **kwargs)
    callbacks = [sparsity_api.UpdatePruningStep()]
    if log_dir:
        callbacks.append(sparsity_api.PruningSummaries(log_dir=log_dir))
    fine_tune(wrapped, train_ds, epochs, loss, lr, callbacks, optimizer=optimizer, run_eagerly=run_eagerly)
    stripped = sparsity_api.strip_pruning(wrapped)
    return stripped, layer_sparsity(stripped)


def layer_sparsity(model) -> dict[str, float]:
    """Fraction of exactly-zero weights in each conv/dense kernel."""
    return {layer.name: float(np.mean(layer.kernel.numpy() == 0)) for layer in model.layers
            if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))}


def quantization_aware(model, train_ds, loss, *, epochs=2, lr=1e-4, optimizer="adam", preserve_sparsity=False,
                       calibration=None, val_data=None, run_eagerly=False, micro_batch: int | None = None,
                       patience: int | None = None):
    """Fine-tune `model` with fake-quant wrappers (`zoo.models.quantization.quantize_model`), ready for int8 conversion.

    Activation ranges are first calibrated on `calibration` (input batches; default: 4 batches of `train_ds`),
    so training starts where post-training quantization is instead of tfmot's [-6, 6]. With `val_data`
    (x, y arrays) the weights of the epoch with the best pooled Dice on it are kept, the calibrated start
    counting as epoch 0, so a short fine-tune never hands back a model worse on validation than PTQ's.
    `preserve_sparsity=True` uses tfmot's prune-preserving scheme so a pruned model keeps its zeros.
    `patience` (with `val_data`): stop after that many epochs without a better validation Dice than the best so
    far (1: as soon as an epoch does not improve), so training that only loses stops early; None: all `epochs`.
    `optimizer` and `lr` as in `fine_tune`.
    `micro_batch` (e.g. from `memory_bounded_batch`): train with BatchNorm statistics frozen, each batch of
    `train_ds` as micro-batches of this many images whose gradients are summed into one step
    (`accumulate_fine_tune`), so memory follows the micro-batch and the steps the batch; with BatchNorm frozen
    it is first folded into the convolutions before it (`fold_batch_norm`: the function the INT8 file computes,
    in less memory and time). None: `fine_tune`, BatchNorm trained.
    Returns (QAT model, {"val_dice_per_epoch": [...], "kept_epoch": k, "folded_batch_norms": n}).
    """
    from zoo.models.quantization import calibrate_ranges, fold_batch_norm, quantize_model

    folded = 0
    if micro_batch is not None:
        model, folded = fold_batch_norm(model)
    scheme = tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme() if preserve_sparsity else None
    qat = quantize_model(model, scheme)
    calibrate_ranges(qat, calibration if calibration is not None else [batch[0] for batch in train_ds.take(4)])

    def train(callbacks=()):
        if micro_batch is None:
            return fine_tune(qat, train_ds, epochs, loss, lr, list(callbacks), optimizer=optimizer,
                             run_eagerly=run_eagerly)
        return accumulate_fine_tune(qat, train_ds, epochs, loss, lr, list(callbacks), optimizer=optimizer,
                                    micro_batch=micro_batch, run_eagerly=run_eagerly)

    if val_data is None:
        return train(), {"kept_epoch": epochs, "folded_batch_norms": folded}

    keep_best = KeepBestDice(*val_data, patience=patience, batch_size=micro_batch or 8)
    keep_best.set_model(qat)
    keep_best.on_epoch_end(-1)  # the calibrated start is epoch 0
    train([keep_best])
    qat.set_weights(keep_best.best_weights)
    return qat, {"val_dice_per_epoch": keep_best.history, "kept_epoch": keep_best.best_epoch,
                 "folded_batch_norms": folded}


def activation_bytes(model) -> int:
    """Bytes of every layer's float32 output for one example: about what training keeps per image for the
    backward pass (574 MB for Half MultiResUNet at 256x256, where QAT training measured about 590 MB per image);
    an upper bound for QAT with BatchNorm folded (`fold_batch_norm`), whose training peak measured 40 % lower
    (0.43 instead of 0.72 GB above where it started, same model, one image per step)."""
    total = 0
    for layer in model.layers:
        shapes = layer.output_shape if isinstance(layer.output_shape, list) else [layer.output_shape]
        total += sum(int(np.prod([d for d in shape[1:] if d is not None])) for shape in shapes)
    return 4 * total


def memory_bounded_batch(model, budget_bytes: int, largest: int) -> int:
    """The most images (1 to `largest`) whose activations (`activation_bytes`) fit `budget_bytes`."""
    return int(max(1, min(largest, budget_bytes // max(1, activation_bytes(model)))))


def freeze_batch_norm(model) -> int:
    """Run every BatchNormalization layer (also inside tfmot's wrappers) in inference mode with fixed gamma and
    beta, so a batch's result does not depend on how it is split; returns how many were frozen."""
    frozen = 0
    for layer in model.layers:
        inner = getattr(layer, "layer", layer)
        if isinstance(inner, keras.layers.BatchNormalization):
            inner.trainable = False
            frozen += 1
    return frozen


def accumulate_fine_tune(model, train_ds, epochs, loss, lr=1e-4, callbacks=(), *, optimizer="adam",
                         micro_batch=1, run_eagerly=False):
    """Train `model` like `fine_tune`, in micro-batches: each batch of `train_ds` runs `micro_batch` images at
    a time, gradients weighted by their share of the batch and summed, then one optimizer step, so peak memory
    is the micro-batch's. BatchNorm is frozen (`freeze_batch_norm`) so an image's gradient does not depend on
    its batch mates, and the sum is the batch's gradient (the zoo's losses are per-image means over the batch)
    up to QAT's moving-average ranges, which move once per micro-batch. Callbacks get `on_epoch_end` only; one
    ends training early by setting `model.stop_training`."""
    import tensorflow as tf

    from zoo.training.losses import get_loss

    loss_fn = get_loss(loss) if isinstance(loss, str) else loss
    opt = make_optimizer(optimizer, lr)
    freeze_batch_norm(model)
    variables = model.trainable_variables
    sums = [tf.Variable(tf.zeros_like(v), trainable=False) for v in variables]
    opt.build(variables)

    def add_gradients(x, y, weight):
        with tf.GradientTape() as tape:
            value = loss_fn(y, model(x, training=True))
            if model.losses:
                value += tf.add_n(model.losses)
            value *= weight
        for total, grad in zip(sums, tape.gradient(value, variables)):
            total.assign_add(grad)

    def apply():
        opt.apply_gradients(zip([tf.convert_to_tensor(s) for s in sums], variables))
        for total in sums:
            total.assign(tf.zeros_like(total))

    if not run_eagerly:
        add_gradients, apply = tf.function(add_gradients, reduce_retracing=True), tf.function(apply)
    model.stop_training = False
    for epoch in range(epochs):
        for x, y in train_ds:
            n = int(x.shape[0])
            for i in range(0, n, micro_batch):
                add_gradients(x[i:i + micro_batch], y[i:i + micro_batch], tf.constant(min(micro_batch, n - i) / n))
            apply()
        for callback in callbacks:
            callback.on_epoch_end(epoch)
        if model.stop_training:
            break
    return model


class KeepBestDice(keras.callbacks.Callback):
    """After each epoch, score pooled Dice on (x, y) and remember the weights of the best epoch so far; with
    `patience`, stop training after that many epochs without a better score. `batch_size`: images per
    prediction call (its activations are the memory it needs)."""

    def __init__(self, x, y, patience: int | None = None, batch_size: int = 8):
        super().__init__()
        self.x, self.y, self.patience, self.batch_size = x, y, patience, batch_size
        self.history, self.best_weights, self.best_epoch = [], None, 0

    def on_epoch_end(self, epoch, logs=None):
        from zoo.training.metrics import evaluate_masks

        dice = round(evaluate_masks(self.y, self.model.predict(self.x, batch_size=self.batch_size, verbose=0))["pooled_f1"], 4)
        self.history.append(dice)
        if self.best_weights is None or dice > max(self.history[:-1]):
            self.best_weights, self.best_epoch = self.model.get_weights(), epoch + 1
        if self.patience is not None and epoch + 1 - self.best_epoch >= self.patience:
            self.model.stop_training = True
