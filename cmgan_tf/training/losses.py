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


def _cosine_similarities(queries, gallery):
    """`(n, m)` cosine similarities of the rows of two batches."""
    queries = queries / ops.maximum(ops.norm(queries, axis=1, keepdims=True), 1e-12)
    gallery = gallery / ops.maximum(ops.norm(gallery, axis=1, keepdims=True), 1e-12)
    return ops.matmul(queries, ops.transpose(gallery))


def _symmetric_cross_entropy(similarities, targets, temperature):
    """Mean cross-entropy of softmax(similarities / t) against target rows, both ways.

    Row `i` of `targets` is the distribution over the texts that image `i`
    should retrieve; its columns are the same for texts retrieving images.
    """
    logits = similarities / temperature
    image_to_text = ops.categorical_crossentropy(targets, logits, from_logits=True)
    text_to_image = ops.categorical_crossentropy(
        ops.transpose(targets), ops.transpose(logits), from_logits=True
    )
    return 0.5 * (ops.mean(image_to_text) + ops.mean(text_to_image))


def pair_contrastive_loss(image_common, text_common, temperature):
    """Symmetric InfoNCE: each item should pick its own partner out of the batch.

    With `C_ij = cos(s_img_i, s_txt_j) / t`, the mean of
    `-log softmax_j(C)_ii` (image `i` retrieves its own text among the batch's
    texts) and `-log softmax_i(C)_ii` (text `j` retrieves its own image). It is
    the instance-level signal that class labels cannot give: it orders the
    items of one class by how well they match the query.

    Args:
        image_common: `(batch, common_dim)` image common representations.
        text_common: `(batch, common_dim)` text common representations; row
            `i` is the partner of image `i`.
        temperature: Positive float; smaller values sharpen the softmax.

    Returns:
        Scalar loss.

    Reference:
        van den Oord, Li, Vinyals. "Representation Learning with Contrastive
        Predictive Coding", 2018; Radford et al. "CLIP", ICML 2021.
    """
    similarities = _cosine_similarities(image_common, text_common)
    targets = ops.eye(ops.shape(similarities)[0], dtype=similarities.dtype)
    return _symmetric_cross_entropy(similarities, targets, temperature)


def class_contrastive_loss(image_common, text_common, labels, temperature):
    """Cross-modal supervised contrastive loss: retrieve the batch's same-class items.

    With `C_ij = cos(s_img_i, s_txt_j) / t` and label similarity `S_ij` (1
    when pairs `i` and `j` share a label, else 0), the target of image `i` is
    `S_i. / sum_j S_ij`, uniform over the texts of its class, and the loss is
    the mean cross-entropy of `softmax_j(C_i.)` against it, averaged with the
    same for texts retrieving images. It ranks the whole class above the other
    classes in the common space, which is what MAP over all items rewards.

    Args:
        image_common: `(batch, common_dim)` image common representations.
        text_common: `(batch, common_dim)` text common representations.
        labels: `(batch, num_classes)` one-hot or multi-hot labels of the
            pairs; every pair must have at least one label.
        temperature: Positive float; smaller values sharpen the softmax.

    Returns:
        Scalar loss.

    Reference:
        Khosla et al. "Supervised Contrastive Learning", NeurIPS 2020, here
        across modalities.
    """
    same = _label_similarity(labels, image_common.dtype)
    targets = same / ops.sum(same, axis=1, keepdims=True)
    return _symmetric_cross_entropy(
        _cosine_similarities(image_common, text_common), targets, temperature
    )


def _label_similarity(labels, dtype):
    """`(n, n)` 0/1 matrix: whether pairs `i` and `j` share a label."""
    labels = ops.cast(labels, dtype)
    return ops.cast(ops.matmul(labels, ops.transpose(labels)) > 0, dtype)


def label_similarity_loss(image_common, text_common, labels):
    """DSCMR's common-space discrimination loss over all pairs of a batch.

    For common representations `a_i`, `b_j` with `theta_ij = cos(a_i, b_j) / 2`
    and label similarity `S_ij` (1 when items `i` and `j` share a label, else
    0), `L(a, b) = mean_ij log(1 + exp(theta_ij)) - S_ij theta_ij`, the
    negative log-likelihood of `S` under `P(S_ij = 1) = sigmoid(theta_ij)`.
    The loss is `L(img, txt) + L(img, img) + L(txt, txt)`: items of one class
    are drawn together and items of different classes pushed apart, across
    and within the modalities.

    Args:
        image_common: `(batch, common_dim)` image common representations.
        text_common: `(batch, common_dim)` text common representations.
        labels: `(batch, num_classes)` one-hot or multi-hot labels of the pairs.

    Returns:
        Scalar loss.

    Reference:
        Zhen, Hu, Wang, Peng. "Deep Supervised Cross-modal Retrieval", CVPR
        2019, equation (2).
    """
    same = _label_similarity(labels, image_common.dtype)

    def negative_log_likelihood(a, b):
        theta = 0.5 * _cosine_similarities(a, b)
        return ops.mean(ops.softplus(theta) - same * theta)

    return (
        negative_log_likelihood(image_common, text_common)
        + negative_log_likelihood(image_common, image_common)
        + negative_log_likelihood(text_common, text_common)
    )
