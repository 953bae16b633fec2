"""The CM-GAN loss terms against their docstring formulas, computed with NumPy."""

import numpy as np
import pytest

from cmgan_tf.training import losses

LOG2 = np.log(2.0)


def _bce(logits, target):
    """Mean BCE on logits: `log(1 + exp(-x))` for target 1, `log(1 + exp(x))` for 0."""
    logits = np.asarray(logits, np.float64)
    return float(np.mean(np.logaddexp(0.0, -logits if target == 1 else logits)))


def _logits(*values):
    return np.asarray(values, np.float32).reshape(-1, 1)


def _value(tensor):
    return float(np.asarray(tensor))


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_bce_reference_matches_hand_values():
    # Guards the reference itself: BCE(0, .) = log 2; BCE(x, 1) = log(1 + e^-x).
    assert _bce([0.0], 1) == pytest.approx(LOG2)
    assert _bce([2.0], 1) == pytest.approx(np.log(1 + np.exp(-2.0)))
    assert _bce([2.0], 0) == pytest.approx(np.log(1 + np.exp(2.0)))


def test_losses_return_scalars(rng):
    logits = rng.normal(size=(5, 1)).astype("float32")
    assert np.shape(losses.intra_modality_discriminator_loss(logits, logits)) == ()
    assert np.shape(losses.inter_modality_generator_loss(logits)) == ()
    labels = np.eye(3, dtype="float32")[[0, 1, 2, 0, 1]]
    class_logits = rng.normal(size=(5, 3)).astype("float32")
    assert np.shape(losses.semantic_loss(class_logits, labels, False)) == ()
    assert np.shape(losses.semantic_loss(class_logits, labels, True)) == ()


def test_intra_discriminator_loss_at_zero_logits_is_two_log_two():
    zeros = _logits(0.0, 0.0, 0.0)
    loss = losses.intra_modality_discriminator_loss(zeros, zeros)
    assert _value(loss) == pytest.approx(2 * LOG2, rel=1e-6)


def test_intra_discriminator_loss_matches_formula(rng):
    real = rng.normal(size=(7, 1)).astype("float32") * 3
    fake = rng.normal(size=(7, 1)).astype("float32") * 3
    expected = _bce(real, 1) + _bce(fake, 0)
    loss = losses.intra_modality_discriminator_loss(real, fake)
    assert _value(loss) == pytest.approx(expected, rel=1e-5)


def test_intra_discriminator_loss_is_a_batch_mean_not_a_sum():
    # One real logit of 0 (log 2) and one of +inf-like 30 (~0): the mean is
    # log(2)/2, a sum would be log 2.
    real = _logits(0.0, 30.0)
    fake = _logits(-30.0, -30.0)
    loss = losses.intra_modality_discriminator_loss(real, fake)
    assert _value(loss) == pytest.approx(LOG2 / 2, rel=1e-5)


def test_intra_generator_loss_matches_formula(rng):
    fake = rng.normal(size=(6, 1)).astype("float32") * 3
    loss = losses.intra_modality_generator_loss(fake)
    assert _value(loss) == pytest.approx(_bce(fake, 1), rel=1e-5)


def test_inter_discriminator_loss_halves_the_two_fake_terms():
    # Each term alone, by hand: own logit 1 is real, other 2 and mismatched -1
    # are fake, the fake terms weighted 1/2.
    own, other, mismatched = _logits(1.0), _logits(2.0), _logits(-1.0)
    expected = (
        np.log1p(np.exp(-1.0))
        + 0.5 * np.log1p(np.exp(2.0))
        + 0.5 * np.log1p(np.exp(-1.0))
    )
    loss = losses.inter_modality_discriminator_loss(own, other, mismatched)
    assert _value(loss) == pytest.approx(expected, rel=1e-6)


def test_inter_discriminator_loss_weights_each_term_separately():
    # Moving one fake logit at a time from 0 to 3 changes the loss by half of
    # the change of that term's BCE; moving the real logit, by all of it.
    base = _logits(0.0), _logits(0.0), _logits(0.0)
    base_loss = _value(losses.inter_modality_discriminator_loss(*base))
    assert base_loss == pytest.approx(2 * LOG2, rel=1e-6)
    delta_fake = np.log1p(np.exp(3.0)) - LOG2
    delta_real = np.log1p(np.exp(-3.0)) - LOG2
    for position, delta in (
        (0, delta_real),
        (1, 0.5 * delta_fake),
        (2, 0.5 * delta_fake),
    ):
        moved = list(base)
        moved[position] = _logits(3.0)
        loss = _value(losses.inter_modality_discriminator_loss(*moved))
        assert loss - base_loss == pytest.approx(delta, rel=1e-5), position


def test_inter_discriminator_loss_matches_formula(rng):
    own, other, mismatched = (rng.normal(size=(9, 1)).astype("float32") for _ in "abc")
    expected = _bce(own, 1) + 0.5 * _bce(other, 0) + 0.5 * _bce(mismatched, 0)
    loss = losses.inter_modality_discriminator_loss(own, other, mismatched)
    assert _value(loss) == pytest.approx(expected, rel=1e-5)


def test_inter_generator_loss_matches_formula(rng):
    other = rng.normal(size=(5, 1)).astype("float32") * 2
    loss = losses.inter_modality_generator_loss(other)
    assert _value(loss) == pytest.approx(_bce(other, 1), rel=1e-5)


def test_modality_losses_match_formulas_and_swap_targets(rng):
    image = rng.normal(size=(8, 1)).astype("float32") * 2
    text = rng.normal(size=(8, 1)).astype("float32") * 2
    d_loss = losses.modality_discriminator_loss(image, text)
    g_loss = losses.modality_generator_loss(image, text)
    assert _value(d_loss) == pytest.approx(_bce(image, 1) + _bce(text, 0), rel=1e-5)
    assert _value(g_loss) == pytest.approx(_bce(image, 0) + _bce(text, 1), rel=1e-5)


def test_perfect_discriminator_has_near_zero_loss_and_generator_a_large_one():
    real = _logits(20.0, 25.0, 30.0)
    fake = _logits(-20.0, -25.0, -30.0)
    assert _value(losses.intra_modality_discriminator_loss(real, fake)) < 1e-6
    assert _value(losses.inter_modality_discriminator_loss(real, fake, fake)) < 1e-6
    assert _value(losses.modality_discriminator_loss(real, fake)) < 1e-6
    # The generator's loss against that discriminator is about the mean
    # logit margin: log(1 + e^25) ~ 25.
    assert _value(losses.intra_modality_generator_loss(fake)) == pytest.approx(
        25.0, rel=1e-4
    )
    assert _value(losses.inter_modality_generator_loss(fake)) == pytest.approx(
        25.0, rel=1e-4
    )
    assert _value(losses.modality_generator_loss(real, fake)) == pytest.approx(
        50.0, rel=1e-4
    )


def test_bce_is_numerically_stable_for_large_logits():
    # A naive log(sigmoid(x)) gives inf at these logits.
    loss = losses.intra_modality_generator_loss(_logits(-200.0))
    assert np.isfinite(_value(loss))
    assert _value(loss) == pytest.approx(200.0, rel=1e-5)


def _softmax_cross_entropy(logits, labels):
    logits = np.asarray(logits, np.float64)
    log_softmax = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
    return float(np.mean(-(labels * log_softmax).sum(axis=1)))


def _sigmoid_cross_entropy(logits, labels):
    logits = np.asarray(logits, np.float64)
    per_entry = labels * np.logaddexp(0, -logits) + (1 - labels) * np.logaddexp(
        0, logits
    )
    return float(per_entry.mean())


def test_single_label_semantic_loss_is_softmax_cross_entropy(rng):
    logits = rng.normal(size=(6, 4)).astype("float32") * 2
    labels = np.eye(4, dtype="float32")[[0, 3, 1, 2, 2, 0]]
    loss = losses.semantic_loss(logits, labels, multi_label=False)
    assert _value(loss) == pytest.approx(
        _softmax_cross_entropy(logits, labels), rel=1e-5
    )


def test_single_label_semantic_loss_by_hand():
    # Logits (0, 0, 0) against any class: -log(1/3) = log 3.
    loss = losses.semantic_loss(
        np.zeros((2, 3), "float32"), np.eye(3, dtype="float32")[[0, 2]], False
    )
    assert _value(loss) == pytest.approx(np.log(3.0), rel=1e-6)


def test_multi_label_semantic_loss_is_sigmoid_cross_entropy_mean_over_classes(rng):
    logits = rng.normal(size=(5, 4)).astype("float32") * 2
    labels = np.array(
        [[1, 1, 0, 0], [0, 1, 0, 1], [1, 0, 0, 0], [1, 1, 1, 0], [0, 0, 1, 0]],
        "float32",
    )
    loss = losses.semantic_loss(logits, labels, multi_label=True)
    assert _value(loss) == pytest.approx(
        _sigmoid_cross_entropy(logits, labels), rel=1e-5
    )


def test_multi_label_semantic_loss_by_hand():
    # Zero logits: every class contributes log 2, whatever the labels, so the
    # mean over classes is log 2 (a sum over classes would be C log 2).
    loss = losses.semantic_loss(
        np.zeros((2, 5), "float32"), np.eye(5, dtype="float32")[[0, 4]], True
    )
    assert _value(loss) == pytest.approx(LOG2, rel=1e-6)


def test_single_and_multi_label_semantic_losses_differ(rng):
    logits = rng.normal(size=(4, 3)).astype("float32")
    labels = np.eye(3, dtype="float32")[[0, 1, 2, 0]]
    single = _value(losses.semantic_loss(logits, labels, False))
    multi = _value(losses.semantic_loss(logits, labels, True))
    assert single != pytest.approx(multi, rel=1e-3)


def test_reconstruction_loss_is_mean_squared_error_per_dimension():
    originals = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]], "float32")
    reconstructions = np.array([[1.0, 0.0, 3.0], [1.0, -1.0, 0.0]], "float32")
    # Squared errors 0, 4, 0, 1, 1, 0 over 6 entries.
    loss = losses.reconstruction_loss(originals, reconstructions)
    assert _value(loss) == pytest.approx(1.0, rel=1e-6)


def test_pair_distance_loss_is_mean_squared_distance_per_dimension(rng):
    image = rng.normal(size=(5, 4)).astype("float32")
    text = rng.normal(size=(5, 4)).astype("float32")
    expected = np.mean(np.sum((image - text) ** 2, axis=1) / 4)
    loss = losses.pair_distance_loss(image, text)
    assert _value(loss) == pytest.approx(expected, rel=1e-5)
    assert _value(losses.pair_distance_loss(image, image)) == 0.0


def _cosines(a, b):
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return a @ b.T


def _row_cross_entropy(logits, targets):
    log_softmax = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
    return float(np.mean(-(targets * log_softmax).sum(axis=1)))


def _symmetric_contrastive(images, texts, targets, temperature):
    logits = _cosines(images, texts) / temperature
    return 0.5 * (
        _row_cross_entropy(logits, targets) + _row_cross_entropy(logits.T, targets.T)
    )


def test_pair_contrastive_loss_by_hand():
    # Two orthogonal pairs, each item equal to its partner: at temperature 1
    # every row's logits are (1, 0) with the 1 on the partner, so each
    # direction costs -log(e / (e + 1)) = log(1 + 1/e).
    items = np.eye(2, dtype="float32")
    loss = losses.pair_contrastive_loss(items, items, 1.0)
    assert _value(loss) == pytest.approx(np.log1p(np.exp(-1.0)), rel=1e-6)
    # Temperature 0.5 doubles the logits: log(1 + e^-2).
    loss = losses.pair_contrastive_loss(items, items, 0.5)
    assert _value(loss) == pytest.approx(np.log1p(np.exp(-2.0)), rel=1e-6)


def test_pair_contrastive_loss_matches_formula(rng):
    images = rng.normal(size=(6, 4)).astype("float32")
    texts = rng.normal(size=(6, 4)).astype("float32")
    expected = _symmetric_contrastive(images, texts, np.eye(6), 0.1)
    loss = losses.pair_contrastive_loss(images, texts, 0.1)
    assert _value(loss) == pytest.approx(expected, rel=1e-4)


def test_pair_contrastive_loss_rewards_the_own_partner_not_the_class(rng):
    # Texts that match their own images score better than the same texts
    # handed to the wrong images, and the loss ignores the vectors' norms.
    images = rng.normal(size=(5, 3)).astype("float32")
    texts = images + 0.1 * rng.normal(size=(5, 3)).astype("float32")
    matched = _value(losses.pair_contrastive_loss(images, texts, 0.2))
    shuffled = _value(losses.pair_contrastive_loss(images, texts[::-1], 0.2))
    rescaled = _value(losses.pair_contrastive_loss(7 * images, texts / 3, 0.2))
    assert matched < shuffled
    assert rescaled == pytest.approx(matched, rel=1e-5)


def test_class_contrastive_loss_by_hand():
    # Items 0 and 1 are of class 0 and both lie on e1; item 2 is of class 1
    # on e2. At temperature 1 rows 0 and 1 have logits (1, 1, 0) and target
    # (1/2, 1/2, 0): log(2e + 1) - 1; row 2 has logits (0, 0, 1) and target
    # (0, 0, 1): log(e + 2) - 1. The matrix is symmetric, so both directions
    # agree.
    items = np.array([[1, 0], [1, 0], [0, 1]], "float32")
    labels = np.eye(2, dtype="float32")[[0, 0, 1]]
    expected = (2 * (np.log(2 * np.e + 1) - 1) + np.log(np.e + 2) - 1) / 3
    loss = losses.class_contrastive_loss(items, items, labels, 1.0)
    assert _value(loss) == pytest.approx(expected, rel=1e-6)


def test_class_contrastive_loss_matches_formula_for_multi_label_data(rng):
    images = rng.normal(size=(5, 4)).astype("float32")
    texts = rng.normal(size=(5, 4)).astype("float32")
    labels = np.array(
        [[1, 1, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0], [0, 0, 1]], "float32"
    )
    same = (labels @ labels.T > 0).astype(np.float64)
    expected = _symmetric_contrastive(
        images, texts, same / same.sum(1, keepdims=True), 0.3
    )
    loss = losses.class_contrastive_loss(images, texts, labels, 0.3)
    assert _value(loss) == pytest.approx(expected, rel=1e-4)


def test_label_similarity_loss_by_hand():
    # Two pairs of one class, each item on its own axis: every one of the
    # three similarity matrices is the identity, theta = I / 2, S = 1, so each
    # is mean(softplus(theta) - theta) = (2 (log(1 + e^0.5) - 0.5) + 2 log 2) / 4.
    items = np.eye(2, dtype="float32")
    labels = np.eye(3, dtype="float32")[[1, 1]]
    one = (2 * (np.log1p(np.exp(0.5)) - 0.5) + 2 * LOG2) / 4
    loss = losses.label_similarity_loss(items, items, labels)
    assert _value(loss) == pytest.approx(3 * one, rel=1e-6)


def test_label_similarity_loss_matches_formula(rng):
    images = rng.normal(size=(6, 4)).astype("float32")
    texts = rng.normal(size=(6, 4)).astype("float32")
    labels = np.eye(3, dtype="float32")[[0, 1, 2, 0, 1, 1]]
    same = labels @ labels.T

    def nll(a, b):
        theta = 0.5 * _cosines(a, b)
        return np.mean(np.logaddexp(0, theta) - same * theta)

    expected = nll(images, texts) + nll(images, images) + nll(texts, texts)
    loss = losses.label_similarity_loss(images, texts, labels)
    assert _value(loss) == pytest.approx(expected, rel=1e-5)
