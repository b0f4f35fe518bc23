"""zoo.training.losses against independent NumPy references (float64, one image at a time), hand-made value
tables, the papers' anchors (002's weighted BCE, 004's Adapt Exp Loss), edge masks, logits, 2-channel
softmax heads, serialization and one Keras training step."""
import zoo  # noqa: F401  (selects Keras 2 before TensorFlow loads)

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from zoo.training.losses import (LOSSES, AdaptExpLoss, BCEDiceLoss, BCEJaccardLoss, BinaryCrossEntropy, DiceBCELoss,
                        DiceFocalLoss, DiceLoss, ExpLoss, FocalLoss, FocalTverskyLoss, JaccardLoss, TverskyLoss,
                        WeightedBCE, adapt_exp_weights, get_loss)

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


def ref_focal_per_image(y, p, gamma=2.0, alpha=0.25):
    p = np.clip(p.astype(np.float64), EPS, 1 - EPS)
    f = -(alpha * y * (1 - p) ** gamma * np.log(p) + (1 - alpha) * (1 - y) * p ** gamma * np.log(1 - p))
    return np.array([fi.mean() for fi in f])


def ref_tversky(y, p, alpha=0.3, beta=0.7, smooth=1.0):
    out = []
    for yi, pi in zip(y, p):
        tp, fp, fn = (yi * pi).sum(), ((1 - yi) * pi).sum(), (yi * (1 - pi)).sum()
        out.append((tp + smooth) / (tp + alpha * fp + beta * fn + smooth))
    return np.array(out)


def ref_exp(y, p, w_fg=1.0, w_bg=1.0):
    return np.mean([(w_fg * yi * np.exp(-pi) + w_bg * (1 - yi) * np.exp(-(1 - pi))).mean() for yi, pi in zip(y, p)])


def ref_adapt_exp(y, p, eps=1e-6, reduce=np.mean):
    """Paper 004 Eqs. 1-3 literally, one image at a time."""
    out = []
    for yi, pi in zip(y.astype(np.float64), p.astype(np.float64)):
        k = yi.mean()
        l1, l2 = 1 / (k + eps), 1 / (1 - k + eps)
        out.append(reduce(l1 * yi * np.exp(-pi) + l2 * (1 - yi) * np.exp(-(1 - pi))))
    return np.mean(out)


REFERENCES = {
    "bce": lambda y, p: ref_bce_per_image(y, p).mean(),
    "weighted_bce": ref_weighted_bce,
    "dice": lambda y, p: np.mean(1 - ref_soft_dice(y, p)),
    "jaccard": lambda y, p: np.mean(1 - ref_soft_jaccard(y, p)),
    "bce_dice": lambda y, p: np.mean(0.5 * ref_bce_per_image(y, p) + 0.5 * (1 - ref_soft_dice(y, p))),
    "dice_bce": lambda y, p: np.mean(ref_bce_per_image(y, p) + 1 - ref_soft_dice(y, p)),
    "bce_jaccard": lambda y, p: np.mean(ref_bce_per_image(y, p) + 1 - ref_soft_jaccard(y, p)),
    "jaccard_bce": lambda y, p: np.mean(ref_bce_per_image(y, p) + 1 - ref_soft_jaccard(y, p)),
    "focal": lambda y, p: ref_focal_per_image(y, p).mean(),
    "dice_focal": lambda y, p: np.mean(ref_focal_per_image(y, p) + 1 - ref_soft_dice(y, p)),
    "tversky": lambda y, p: np.mean(1 - ref_tversky(y, p)),
    "focal_tversky": lambda y, p: np.mean(np.maximum(1 - ref_tversky(y, p), EPS) ** 0.75),
    "exp": ref_exp,
    "adapt_exp": ref_adapt_exp,
}
assert set(REFERENCES) == set(LOSSES)


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
    """P = 0.5 everywhere: sum_fg w_T = sum_bg w_F = N, so the loss is exactly 2 ln2 N (paper 002)."""
    for h, w in [(16, 16), (512, 512)]:
        y = np.zeros((2, h, w, 1), np.float32)
        y[0, :3, :5] = 1.0  # 15 foreground pixels
        y[1, h // 2:] = 1.0  # half foreground
        p = np.full_like(y, 0.5)
        n = h * w
        assert value(WeightedBCE(), y, p) == pytest.approx(2 * np.log(2) * n, rel=1e-5)
        assert value(WeightedBCE(reduction_over_pixels="mean"), y, p) == pytest.approx(2 * np.log(2), rel=1e-5)
    assert round(value(WeightedBCE(), y, p), -3) == 3.63e5  # the 512x512 magnitude quoted from the paper
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


@pytest.mark.parametrize("name", [n for n in NAMES if n not in ("exp", "adapt_exp")])  # those floor at 1/e, 2/e
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
    "bce_dice": {"alpha": 0.3, "smooth": 0.0},
    "dice_bce": {"bce_weight": 0.5, "dice_weight": 2.0},
    "bce_jaccard": {"smooth": 0.1},
    "jaccard_bce": {"jaccard_weight": 3.0, "smooth": 1e-5},
    "focal": {"gamma": 1.0, "alpha": 0.5, "from_logits": True},
    "dice_focal": {"gamma": 3.0, "focal_weight": 2.0},
    "tversky": {"alpha": 0.7, "beta": 0.3},
    "focal_tversky": {"gamma": 2.0, "beta": 0.9},
    "exp": {"weight_fg": 3.0, "pixel_reduction": "sum"},
    "adapt_exp": {"epsilon": 1e-3, "pixel_reduction": "sum", "from_logits": True},
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
        get_loss("lovasz")
    message = str(err.value)
    assert "lovasz" in message and "\n" not in message
    assert all(name in message for name in LOSSES)


def test_invalid_arguments_raise():
    with pytest.raises(ValueError):
        WeightedBCE(reduction_over_pixels="max")
    with pytest.raises(ValueError):
        BCEDiceLoss(alpha=1.5)
    with pytest.raises(ValueError, match="pixel_reduction"):
        AdaptExpLoss(pixel_reduction="max")
    with pytest.raises(ValueError):
        AdaptExpLoss(epsilon=0)
    with pytest.raises(ValueError):
        FocalLoss(gamma=-1)
    with pytest.raises(ValueError):
        FocalTverskyLoss(gamma=0)
    with pytest.raises(TypeError, match="valid: from_logits, gamma, alpha"):
        FocalLoss(beta=0.3)


def test_losses_table_and_default_names():
    assert set(LOSSES) == {"bce", "weighted_bce", "dice", "jaccard", "bce_jaccard", "bce_dice", "dice_bce",
                           "jaccard_bce", "focal", "dice_focal", "tversky", "focal_tversky", "exp", "adapt_exp"}
    for name, cls in LOSSES.items():
        assert isinstance(get_loss(name), cls)
        assert get_loss(name).name == name


# Keras graph-mode training for each distinct code path (the others share it: dice_bce ~ bce_dice, focal and
# exp inside dice_focal and adapt_exp, tversky inside focal_tversky, jaccard_bce = bce_jaccard); 1 s each.
TRAINED = ["bce", "weighted_bce", "dice", "jaccard", "bce_jaccard", "bce_dice", "dice_focal", "focal_tversky",
           "adapt_exp"]


@pytest.mark.parametrize("name", TRAINED)
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


# --------------------------------------------------------------------------- value table (hand-computed)

# One 2x2 image, y = [1, 1, 0, 0], P = [0.9, 0.6, 0.2, 0.5]: TP = 1.5, FP = 0.7, FN = 0.5, sum(P) = 2.2.
TABLE_Y = np.array([1, 1, 0, 0], np.float32).reshape(1, 2, 2, 1)
TABLE_P = np.array([0.9, 0.6, 0.2, 0.5], np.float32).reshape(1, 2, 2, 1)
_BCE = -(np.log(0.9) + np.log(0.6) + np.log(0.8) + np.log(0.5)) / 4
_DICE = 1 - (2 * 1.5 + 1) / (2 + 2.2 + 1)
_JAC = 1 - (1.5 + 1) / (2 + 2.2 - 1.5 + 1)
_FOCAL = -(0.25 * (0.1 ** 2 * np.log(0.9) + 0.4 ** 2 * np.log(0.6))
           + 0.75 * (0.2 ** 2 * np.log(0.8) + 0.5 ** 2 * np.log(0.5))) / 4
_TVERSKY = 1 - (1.5 + 1) / (1.5 + 0.3 * 0.7 + 0.7 * 0.5 + 1)
_EXP = (np.exp(-0.9) + np.exp(-0.6) + np.exp(-0.8) + np.exp(-0.5)) / 4
VALUE_TABLE = {
    "bce": _BCE,
    "weighted_bce": 4 / 2 * -(np.log(0.9) + np.log(0.6)) + 4 / 2 * -(np.log(0.8) + np.log(0.5)),
    "dice": _DICE,
    "jaccard": _JAC,
    "bce_dice": 0.5 * _BCE + 0.5 * _DICE,
    "dice_bce": _BCE + _DICE,
    "bce_jaccard": _BCE + _JAC,
    "jaccard_bce": _BCE + _JAC,
    "focal": _FOCAL,
    "dice_focal": _FOCAL + _DICE,
    "tversky": _TVERSKY,
    "focal_tversky": _TVERSKY ** 0.75,
    "exp": _EXP,
    # k = 0.5: lambda1 = lambda2 = 1 / (0.5 + 1e-6)
    "adapt_exp": _EXP / (0.5 + 1e-6),
}


@pytest.mark.parametrize("name", NAMES)
def test_value_table(name):
    assert value(get_loss(name), TABLE_Y, TABLE_P) == pytest.approx(VALUE_TABLE[name], rel=1e-6)


def test_value_table_options():
    assert value(DiceBCELoss(bce_weight=0.5, dice_weight=2.0), TABLE_Y, TABLE_P) == pytest.approx(
        0.5 * _BCE + 2 * _DICE, rel=1e-6)
    assert value(DiceFocalLoss(focal_weight=2.0), TABLE_Y, TABLE_P) == pytest.approx(2 * _FOCAL + _DICE, rel=1e-6)
    assert value(BCEJaccardLoss(jaccard_weight=3.0), TABLE_Y, TABLE_P) == pytest.approx(_BCE + 3 * _JAC, rel=1e-6)
    # gamma 0, alpha 0.5 is half the BCE; alpha = beta = 0.5 Tversky is Dice; focal Tversky gamma 1 is Tversky.
    assert value(FocalLoss(gamma=0.0, alpha=0.5), TABLE_Y, TABLE_P) == pytest.approx(_BCE / 2, rel=1e-6)
    assert value(TverskyLoss(alpha=0.5, beta=0.5, smooth=0.0), TABLE_Y, TABLE_P) == pytest.approx(
        value(DiceLoss(smooth=0.0), TABLE_Y, TABLE_P), rel=1e-6)
    assert value(FocalTverskyLoss(gamma=1.0), TABLE_Y, TABLE_P) == pytest.approx(_TVERSKY, rel=1e-6)
    assert value(ExpLoss(weight_fg=2.0, weight_bg=0.5), TABLE_Y, TABLE_P) == pytest.approx(
        (2 * (np.exp(-0.9) + np.exp(-0.6)) + 0.5 * (np.exp(-0.8) + np.exp(-0.5))) / 4, rel=1e-6)
    assert value(ExpLoss(pixel_reduction="sum"), TABLE_Y, TABLE_P) == pytest.approx(4 * _EXP, rel=1e-6)
    y, p = random_batch((2, 16, 16, 1))
    assert value(AdaptExpLoss(pixel_reduction="sum"), y, p) == pytest.approx(
        ref_adapt_exp(y, p, reduce=np.sum), rel=1e-5)


# --------------------------------------------------------------------------- Adapt Exp Loss (paper 004)


def test_adapt_exp_anchors_from_the_spec():
    """Mean reduction: perfect ~ 2/e (1/e with one class), P = 0.5 ~ 2 exp(-0.5) = 1.2131, fully wrong ~ 2."""
    y = np.zeros((1, 32, 32, 1), np.float32)
    y[0, 4:20, 6:14] = 1.0  # k = 128 / 1024
    loss = AdaptExpLoss()
    assert value(loss, y, y) == pytest.approx(2 / np.e, abs=1e-4)
    assert value(loss, y, np.full_like(y, 0.5)) == pytest.approx(1.2131, abs=1e-4)
    assert value(loss, y, 1 - y) == pytest.approx(2.0, abs=1e-4)
    for single in (np.zeros_like(y), np.ones_like(y)):  # all background / all foreground: one class only
        assert value(loss, single, single) == pytest.approx(1 / np.e, abs=1e-4)
        assert np.isfinite(value(loss, single, 1 - single))


@pytest.mark.parametrize("k_pixels", [0, 1, 16, 100, 255, 256])
def test_adapt_exp_weights_match_the_formula_for_chosen_k(k_pixels):
    y = np.zeros((1, 16, 16, 1), np.float32)
    y.reshape(-1)[:k_pixels] = 1.0
    k = k_pixels / 256
    w1, w2 = (t.numpy()[0, 0] for t in adapt_exp_weights(tf.constant(y), epsilon=1e-3))
    assert w1 == pytest.approx(1 / (k + 1e-3), rel=1e-6)
    assert w2 == pytest.approx(1 / (1 - k + 1e-3), rel=1e-6)
    # The loss uses exactly those weights: compare against a static Exp Loss with the same numbers.
    p = RNG.uniform(0, 1, y.shape).astype(np.float32)
    assert value(AdaptExpLoss(epsilon=1e-3), y, p) == pytest.approx(
        value(ExpLoss(weight_fg=float(w1), weight_bg=float(w2)), y, p), rel=1e-6)


def test_adapt_exp_weights_are_per_image():
    y, p = random_batch((3, 16, 16, 1))
    y[1] = 0.0
    y[2, :12] = 1.0
    single = [value(AdaptExpLoss(), y[i:i + 1], p[i:i + 1]) for i in range(3)]
    assert value(AdaptExpLoss(), y, p) == pytest.approx(np.mean(single), rel=1e-6)


# --------------------------------------------------------------------------- 2-channel softmax heads


@pytest.mark.parametrize("name", NAMES)
def test_two_channel_softmax_equals_sigmoid(name):
    """A softmax head (background, foreground) with a binary (.., 1) mask gives the sigmoid head's value,
    for probabilities and for logits (softmax([0, z]) = (1 - sigmoid(z), sigmoid(z)))."""
    y, _ = random_batch((2, 8, 8, 1))
    z = RNG.normal(0, 3, y.shape).astype(np.float32)
    p = tf.sigmoid(z).numpy()
    two_p = np.concatenate([1 - p, p], axis=-1)
    two_z = np.concatenate([np.zeros_like(z), z], axis=-1)
    expected = value(get_loss(name), y, p)
    assert value(get_loss(name), y, two_p) == pytest.approx(expected, rel=1e-5)
    assert value(get_loss(name, from_logits=True), y, two_z) == pytest.approx(expected, rel=1e-4)
    one_hot = np.concatenate([1 - y, y], axis=-1)  # a one-hot mask works too
    assert value(get_loss(name), one_hot, two_p) == pytest.approx(expected, rel=1e-5)


def test_two_channel_softmax_trains_with_adapt_exp():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3))
    outputs = keras.layers.Conv2D(2, 1, activation="softmax")(inputs)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=get_loss("adapt_exp"))
    x = RNG.normal(size=(2, 8, 8, 3)).astype(np.float32)
    y = (x[..., :1] > 0).astype(np.float32)
    losses = [model.train_on_batch(x, y) for _ in range(5)]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]


def test_train_py_loss_args(capsys):
    """train.py --loss-arg: parsed into the run config, checked by building the loss, one-line errors."""
    import train

    cfg, _ = train.parse_args(["--loss", "dice_focal", "--loss-arg", "gamma=3", "--loss-arg", "dice_weight=0.5"])
    assert cfg.loss_args == {"gamma": 3, "dice_weight": 0.5}
    assert get_loss(cfg.loss, **cfg.loss_args).get_config()["gamma"] == 3.0
    for bad, message in ((["--loss", "focal", "--loss-arg", "beta=1"], "unknown argument(s) ['beta']"),
                         (["--loss", "bce_dice", "--loss-arg", "alpha=2"], "alpha must be in [0.0, 1.0]"),
                         (["--loss", "exp", "--loss-arg", "pixel_reduction"], "KEY=VALUE")):
        with pytest.raises(SystemExit) as exit_:
            train.parse_args(bad)
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and message in err and err.count("\n") == 1, err
