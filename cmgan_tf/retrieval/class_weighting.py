"""Choosing, on validation pairs, how much the class probabilities weigh."""

import itertools

import numpy as np

from cmgan_tf.errors import InvalidInputError
from cmgan_tf.models.encoder import in_batches
from cmgan_tf.models.ensemble import combine_member_representations
from cmgan_tf.retrieval.metrics import mean_average_precision

# The grid `--choose_class_weighting` searches. On wikipedia_classic
# validation mostly keeps the `features` preset's weight 1 at temperature 0.5;
# on the 4096-d synthetic sets it weighs the class probabilities 4-8 times,
# softer (benchmark_results/issue16_class_weight_screen.py). A weight below
# 0.5 never won there, and a wider grid (weights to 32, temperature 2) added
# at most 0.001 MAP on pairs held out from the choice.
CLASS_WEIGHTS = (0.5, 1.0, 2.0, 4.0, 8.0)
TEMPERATURES = (0.25, 0.5, 1.0)


def choose_class_weighting(
    encoder,
    split,
    *,
    class_weights=CLASS_WEIGHTS,
    temperatures=TEMPERATURES,
    batch_size=1024,
):
    """Returns the class weight and temperature that rank a split's pairs best.

    For an encoder ranking `"standardized_common_and_classes"`, tries every
    class weight and temperature of the grid and scores the mean of the
    Image→Text and Text→Image MAP@all among the split's pairs (the criterion
    that chose the epoch). The generator runs once per member and modality;
    only the cheap head from the common representation to the ranked vector
    runs per setting. The encoder's own setting is tried first and kept on a
    tie.

    Args:
        encoder: A `CrossModalEncoder`, or an `EnsembleEncoder` of them, with
            `representation="standardized_common_and_classes"`.
        split: A `PairedSplit` of held-out pairs: `images`, `texts` arrays
            and `labels` `(num_pairs, num_classes)`.
        class_weights: The class weights to try.
        temperatures: The softmax temperatures to try.
        batch_size: Inference batch size.

    Returns:
        Dict with the chosen `class_weight` and `temperature`, its
        `map_image_to_text` and `map_text_to_image`, and `scores`: one such
        dict per setting tried, in the order tried.

    Raises:
        InvalidInputError: for an encoder with another representation.
    """
    members = list(getattr(encoder, "members", [encoder]))
    if any(m.representation != "standardized_common_and_classes" for m in members):
        raise InvalidInputError(
            "Only an encoder ranking 'standardized_common_and_classes' weighs "
            f"class probabilities; this one ranks {members[0].representation!r}."
        )
    own = (members[0].class_weight, members[0].temperature)
    inputs = {"image": split.images, "text": split.texts}
    commons = [
        {
            modality: in_batches(
                lambda x, m=member, mod=modality: m.common_representation(x, mod),
                values,
                batch_size,
            )
            for modality, values in inputs.items()
        }
        for member in members
    ]
    settings = [own] + [
        s for s in itertools.product(class_weights, temperatures) if s != own
    ]
    scores = []
    for class_weight, temperature in settings:
        variants = [m.with_class_weighting(class_weight, temperature) for m in members]
        vectors = {
            modality: np.asarray(
                combine_member_representations(
                    [
                        v.represent(c[modality], modality)
                        for v, c in zip(variants, commons, strict=True)
                    ]
                )
            )
            for modality in inputs
        }
        scores.append(
            {
                "class_weight": class_weight,
                "temperature": temperature,
                "map_image_to_text": mean_average_precision(
                    vectors["image"], vectors["text"], split.labels, split.labels
                ),
                "map_text_to_image": mean_average_precision(
                    vectors["text"], vectors["image"], split.labels, split.labels
                ),
            }
        )
    best = max(scores, key=lambda s: s["map_image_to_text"] + s["map_text_to_image"])
    return {**best, "scores": scores}
