"""zoo.losses against independent NumPy references (float64, one image at a time), paper 002's
weighted-BCE anchor, edge masks, logits, serialization and one Keras training step."""
import zoo  # noqa: F401  (selects Keras 2 before TensorFlow loads)

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from zoo.losses import (LOSSES, BCEDiceLoss, BCEJaccardLoss, BinaryCrossEntropy, DiceLoss, JaccardLoss,
                        WeightedBCE, get_loss)

EPS = 1e-7
NAMES = list(LOSSES)
RNG = np.random.default_rng(2021)


# --------------------------------------------------------------------------- NumPy references


def ref_bce_map(y, p):
    p = np.clip(p.astype(np.float64), EPS, 1 - EPS)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def ref_weighted_bce(y, p, pixels="sum"):
    """Paper 002 Eqs. 25-29 literally, per image; w_T = 0 without foreground, w_F = 0 without background."""
    out = []
    for yi, pi in zip(y, p):
        n, fg = yi.size, yi.sum()
        w_t = n / fg if fg else 0.0
        w_f = n / (n - fg) if n - fg else 0.0
        weighted = ref_bce_map(yi, pi) * (yi * w_t + (1 - yi) * w_f)
        out.append(weighted.sum() if pixels == "sum" else weighted.mean())
    return np.mean(out)


def ref_soft_dice(y, p, smooth=1.0):
    return np.array([(2 * (yi * pi).sum() + smooth) / (yi.sum() + pi.sum() + smooth) for yi, pi in zip(y, p)])


def ref_soft_jaccard(y, p, smooth=1.0):
    out = []
    for yi, pi in zip(y, p):
        inter = (yi * pi).sum()
        out.append((inter + smooth) / (yi.sum() + pi.sum() - inter + smooth))
    return np.array(out)


def ref_bce_per_image(y, p):
    return np.array([ref_bce_map(yi, pi).mean() for yi, pi in zip(y, p)])


REFERENCES = {
    "bce": lambda y, p: ref_bce_per_image(y, p).mean(),
    "weighted_bce": ref_weighted_bce,
    "dice": lambda y, p: np.mean(1 - ref_soft_dice(y, p)),
    "jaccard": lambda y, p: np.mean(1 - ref_soft_jaccard(y, p)),
    "bce_jaccard": lambda y, p: np.mean(ref_bce_per_image(y, p) + 1 - ref_soft_jaccard(y, p)),
    "bce_dice": lambda y, p: np.mean(0.5 * ref_bce_per_image(y, p) + 0.5 * (1 - ref_soft_dice(y, p))),
}


def random_batch(shape=(3, 16, 16, 1), fg=0.2):
    y = (RNG.random(shape) < fg).astype(np.float32)
    p = RNG.uniform(0.01, 0.99, shape).astype(np.float32)
    return y, p


def edge_batch(shape=(4, 8, 8, 1)):
    """All-background, all-foreground, one-pixel and random masks in one batch."""
    y = np.zeros(shape, np.float32)
    y[1] = 1.0
    y[2, 3, 4] = 1.0
    y[3] = RNG.random(shape[1:]) < 0.5
    return y


def value(loss, y, p):
    return float(loss(tf.constant(y), tf.constant(p)).numpy())


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize("name", NAMES)
def test_matches_numpy_reference_on_random_input(name):
    y, p = random_batch()
    assert value(get_loss(name), y, p) == pytest.approx(REFERENCES[name](y, p), rel=2e-5)


@pytest.mark.parametrize("name", NAMES)
def test_matches_numpy_reference_on_edge_masks(name):
    y = edge_batch()
    p = RNG.uniform(0.01, 0.99, y.shape).astype(np.float32)
    assert value(get_loss(name), y, p) == pytest.approx(REFERENCES[name](y, p), rel=2e-5)


def test_weighted_bce_hand_made():
    # One 2x2 image, one foreground pixel: N = 4, w_T = 4 / 1, w_F = 4 / 3.
    y = np.array([[1, 0], [0, 0]], np.float32).reshape(1, 2, 2, 1)
    p = np.array([[0.8, 0.1], [0.2, 0.3]], np.float32).reshape(1, 2, 2, 1)
    expected = 4 * -np.log(0.8) + 4 / 3 * -(np.log(0.9) + np.log(0.8) + np.log(0.7))
    assert value(WeightedBCE(), y, p) == pytest.approx(expected, rel=1e-6)
    assert value(WeightedBCE(reduction_over_pixels="mean"), y, p) == pytest.approx(expected / 4, rel=1e-6)


def test_dice_and_jaccard_hand_made():
    # |Y| = 2, |P| = 2, intersection 1.5, smooth 1: Dice = (3 + 1) / (4 + 1), IoU = (1.5 + 1) / (2.5 + 1).
    y = np.array([1, 1, 0, 0], np.float32).reshape(1, 2, 2, 1)
    p = np.array([1, 0.5, 0.5, 0], np.float32).reshape(1, 2, 2, 1)
    assert value(DiceLoss(), y, p) == pytest.approx(1 - 4 / 5, abs=1e-6)
    assert value(JaccardLoss(), y, p) == pytest.approx(1 - 2.5 / 3.5, abs=1e-6)
    assert value(DiceLoss(smooth=0.0), y, p) == pytest.approx(1 - 3 / 4, abs=1e-6)


def test_weighted_bce_anchor_two_ln2_n_per_image():
    """P = 0.5 everywhere: sum_fg w_T = sum_bg w_F = N, so the loss is exactly 2 ln2 N (spec 002, section 3)."""
    for h, w in [(16, 16), (512, 512)]:
        y = np.zeros((2, h, w, 1), np.float32)
        y[0, :3, :5] = 1.0  # 15 foreground pixels
        y[1, h // 2:] = 1.0  # half foreground
        p = np.full_like(y, 0.5)
        n = h * w
        assert value(WeightedBCE(), y, p) == pytest.approx(2 * np.log(2) * n, rel=1e-5)
        assert value(WeightedBCE(reduction_over_pixels="mean"), y, p) == pytest.approx(2 * np.log(2), rel=1e-5)
    assert round(value(WeightedBCE(), y, p), -3) == 3.63e5  # the 512x512 magnitude quoted in the spec
    # An image without foreground has only the background term: w_F = 1, so ln2 N.
    assert value(WeightedBCE(), np.zeros((1, 16, 16, 1), np.float32),
                 np.full((1, 16, 16, 1), 0.5, np.float32)) == pytest.approx(np.log(2) * 256, rel=1e-5)


def test_weighted_bce_weights_are_per_image():
    y, p = random_batch((2, 16, 16, 1))
    y[0, :, :8] = 1.0  # very different foreground fractions per image
    single = [value(WeightedBCE(), y[i:i + 1], p[i:i + 1]) for i in range(2)]
    assert value(WeightedBCE(), y, p) == pytest.approx(np.mean(single), rel=1e-6)


def test_bce_matches_keras_and_composites_decompose():
    y, p = random_batch()
    bce = value(BinaryCrossEntropy(), y, p)
    assert bce == pytest.approx(float(keras.losses.BinaryCrossentropy()(y, p)), rel=1e-5)
    dice, jac = value(DiceLoss(), y, p), value(JaccardLoss(), y, p)
    assert value(BCEJaccardLoss(), y, p) == pytest.approx(bce + jac, rel=1e-6)
    assert value(BCEDiceLoss(), y, p) == pytest.approx(0.5 * bce + 0.5 * dice, rel=1e-6)
    assert value(BCEDiceLoss(alpha=0.2), y, p) == pytest.approx(0.2 * bce + 0.8 * dice, rel=1e-6)
    assert value(BCEDiceLoss(alpha=1.0), y, p) == pytest.approx(bce, rel=1e-6)
    assert value(BCEDiceLoss(alpha=0.0), y, p) == pytest.approx(dice, rel=1e-6)


# --------------------------------------------------------------------------- edge cases


@pytest.mark.parametrize("name", NAMES)
def test_finite_loss_and_gradient_on_edge_masks(name):
    """All-background / all-foreground masks with perfect, inverted (exact 0/1) and random predictions."""
    y = edge_batch()
    cases = {"perfect": y, "inverted": 1 - y, "random": RNG.uniform(0, 1, y.shape).astype(np.float32)}
    for pred in cases.values():
        for from_logits, p in [(False, pred), (True, (pred - 0.5) * 200)]:  # logits of +-100
            p = tf.Variable(p)
            with tf.GradientTape() as tape:
                loss = get_loss(name, from_logits=from_logits)(tf.constant(y), p)
            grad = tape.gradient(loss, p)
            assert np.isfinite(loss.numpy()), (name, from_logits)
            assert np.all(np.isfinite(grad.numpy())), (name, from_logits)


@pytest.mark.parametrize("name", NAMES)
def test_perfect_prediction_is_near_zero(name):
    y = edge_batch()
    loss = value(get_loss(name), y, y)
    # Clipping at 1e-7 leaves -ln(1 - 1e-7) ~ 1e-7 per pixel; WeightedBCE sums 64 pixels of weight <= 64.
    assert 0.0 <= loss < (1e-3 if name == "weighted_bce" else 1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_good_prediction_scores_below_bad(name):
    y, _ = random_batch()
    good = np.where(y > 0, 0.8, 0.2).astype(np.float32)
    bad = np.where(y > 0, 0.3, 0.6).astype(np.float32)
    assert value(get_loss(name), y, good) < value(get_loss(name), y, bad)


@pytest.mark.parametrize("name", NAMES)
def test_from_logits_equals_probabilities(name):
    y, _ = random_batch()
    logits = RNG.normal(0, 3, y.shape).astype(np.float32)
    probs = tf.sigmoid(logits).numpy()
    assert value(get_loss(name, from_logits=True), y, logits) == pytest.approx(
        value(get_loss(name), y, probs), rel=1e-4)


# --------------------------------------------------------------------------- API


NON_DEFAULT = {
    "bce": {"from_logits": True},
    "weighted_bce": {"from_logits": True, "reduction_over_pixels": "mean"},
    "dice": {"smooth": 0.5},
    "jaccard": {"smooth": 2.0, "from_logits": True},
    "bce_jaccard": {"smooth": 0.1},
    "bce_dice": {"alpha": 0.3, "smooth": 0.0},
}


@pytest.mark.parametrize("name", NAMES)
def test_config_round_trip(name):
    loss = get_loss(name, **NON_DEFAULT[name])
    config = loss.get_config()
    assert {k: config[k] for k in NON_DEFAULT[name]} == NON_DEFAULT[name]
    for copy in (keras.losses.deserialize(keras.losses.serialize(loss)), type(loss).from_config(config)):
        assert type(copy) is LOSSES[name]
        assert copy.get_config() == config
    y, p = random_batch()
    copy = keras.losses.deserialize(keras.losses.serialize(loss))
    assert value(copy, y, p) == pytest.approx(value(loss, y, p), rel=1e-6)


def test_get_loss_unknown_name_lists_valid_names():
    with pytest.raises(ValueError) as err:
        get_loss("focal")
    message = str(err.value)
    assert "focal" in message and "\n" not in message
    assert all(name in message for name in LOSSES)


def test_invalid_arguments_raise():
    with pytest.raises(ValueError):
        WeightedBCE(reduction_over_pixels="max")
    with pytest.raises(ValueError):
        BCEDiceLoss(alpha=1.5)


def test_losses_table_and_default_names():
    assert set(LOSSES) == {"bce", "weighted_bce", "dice", "jaccard", "bce_jaccard", "bce_dice"}
    for name, cls in LOSSES.items():
        assert isinstance(get_loss(name), cls)
        assert get_loss(name).name == name


@pytest.mark.parametrize("name", NAMES)
def test_train_on_batch_in_compiled_model(name):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    outputs = keras.layers.Conv2D(1, 1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=get_loss(name))
    x = RNG.normal(size=(2, 8, 8, 3)).astype(np.float32)
    y = edge_batch()[:2]  # an all-background and an all-foreground mask
    first = model.train_on_batch(x, y)
    second = model.train_on_batch(x, y)
    assert np.isfinite(first) and np.isfinite(second)
