"""CM-GAN loss terms as small pure functions on logits.

Named the TF-GAN way, `<family>_<player>_loss`. BCE is binary cross-entropy on
logits. Every function returns a scalar: the mean over the batch.

Reference:
    Peng, Qi, Yuan. "CM-GANs", ACM TOMM 2019, section 3 (objective functions).
"""

from keras import ops


def _bce(logits, target):
    """Mean binary cross-entropy of `logits` against a constant 0/1 target."""
    targets = ops.full_like(logits, target)
    return ops.mean(ops.binary_crossentropy(targets, logits, from_logits=True))


def intra_modality_discriminator_loss(real_logits, fake_logits):
    """Loss of an intra-modality discriminator: originals real, reconstructions fake.

    `BCE(D(v), 1) + BCE(D(v_hat), 0)`.

    Args:
        real_logits: `(batch, 1)` logits of `D` on original representations `v`.
        fake_logits: `(batch, 1)` logits of `D` on reconstructions `v_hat`.

    Returns:
        Scalar loss.
    """
    return _bce(real_logits, 1.0) + _bce(fake_logits, 0.0)


def intra_modality_generator_loss(fake_logits):
    """Generator's intra-modality loss: reconstructions should pass as originals.

    `BCE(D(v_hat), 1)`.

    Args:
        fake_logits: `(batch, 1)` logits of `D` on reconstructions.

    Returns:
        Scalar loss.
    """
    return _bce(fake_logits, 1.0)


def inter_modality_discriminator_loss(own_logits, other_logits, mismatched_logits):
    """Loss of a conditional inter-modality discriminator `D(s, v)`.

    `BCE(D(s_own, v), 1) + 1/2 BCE(D(s_other, v), 0) + 1/2 BCE(D(s_mis, v), 0)`:
    the item's own common representation is real; the paired item's (other
    modality) and a mismatched item's (another class) are fake.

    Args:
        own_logits: `(batch, 1)` logits on the item's own common representation.
        other_logits: `(batch, 1)` logits on the paired item's representation.
        mismatched_logits: `(batch, 1)` logits on a mismatched item's
            representation.

    Returns:
        Scalar loss.
    """
    return (
        _bce(own_logits, 1.0)
        + 0.5 * _bce(other_logits, 0.0)
        + 0.5 * _bce(mismatched_logits, 0.0)
    )


def inter_modality_generator_loss(other_logits):
    """Generator's inter-modality loss: a pair's representations should be alike.

    `BCE(D(s_other, v), 1)`: the paired item's common representation should
    pass as the item's own.

    Args:
        other_logits: `(batch, 1)` logits of `D` on the paired item's
            representation.

    Returns:
        Scalar loss.
    """
    return _bce(other_logits, 1.0)


def modality_discriminator_loss(image_logits, text_logits):
    """Loss of the unconditional inter-modality discriminator `D(s)`.

    `D` tells which modality a common representation came from:
    `BCE(D(s_img), 1) + BCE(D(s_txt), 0)`.

    Args:
        image_logits: `(batch, 1)` logits on image common representations.
        text_logits: `(batch, 1)` logits on text common representations.

    Returns:
        Scalar loss.
    """
    return _bce(image_logits, 1.0) + _bce(text_logits, 0.0)


def modality_generator_loss(image_logits, text_logits):
    """Generator's loss against the unconditional `D(s)`: swap the modalities.

    `BCE(D(s_img), 0) + BCE(D(s_txt), 1)`.

    Args:
        image_logits: `(batch, 1)` logits on image common representations.
        text_logits: `(batch, 1)` logits on text common representations.

    Returns:
        Scalar loss.
    """
    return _bce(image_logits, 0.0) + _bce(text_logits, 1.0)


def semantic_loss(logits, labels, multi_label):
    """Classification loss of a common representation.

    Softmax cross-entropy for single-label data; for multi-label data, sigmoid
    cross-entropy averaged over classes.

    Args:
        logits: `(batch, num_classes)` classifier logits.
        labels: `(batch, num_classes)` one-hot or multi-hot labels.
        multi_label: Whether items may have several labels.

    Returns:
        Scalar loss.
    """
    if multi_label:
        return ops.mean(ops.binary_crossentropy(labels, logits, from_logits=True))
    return ops.mean(ops.categorical_crossentropy(labels, logits, from_logits=True))


def reconstruction_loss(originals, reconstructions):
    """Mean squared error of reconstructions: `mean ||v - v_hat||^2 / dim`.

    Args:
        originals: `(batch, dim)` original representations.
        reconstructions: `(batch, dim)` decoder outputs.

    Returns:
        Scalar loss.
    """
    return ops.mean(ops.square(originals - reconstructions))


def pair_distance_loss(image_common, text_common):
    """Mean squared distance of a pair's common representations, per dimension.

    `mean ||s_img - s_txt||^2 / dim`.

    Args:
        image_common: `(batch, common_dim)` image common representations.
        text_common: `(batch, common_dim)` text common representations.

    Returns:
        Scalar loss.
    """
    return ops.mean(ops.square(image_common - text_common))
