"""`EnsembleEncoder`: several trained encoders that rank as one."""

import keras
from keras import ops

from cmgan_tf.errors import InvalidInputError
from cmgan_tf.models.encoder import CrossModalEncoder, RetrievalEncoder


@keras.saving.register_keras_serializable(package="cmgan_tf")
class EnsembleEncoder(RetrievalEncoder):
    """Ranks by the mean of its members' cosine similarities.

    Each member's unit-norm representation is concatenated and the whole
    divided by `sqrt(len(members))`, so that it has unit norm and the dot
    product of two items is the mean of the members' cosines. Members trained
    from different seeds (`--ensemble_size`) make different errors, which the
    mean partly cancels. The result is still one vector per item, so search,
    galleries, ANN indexes, SavedModel signatures and TFLite take it as they
    take a single encoder's; it costs each member's encoding and is
    `sum(member.output_dim)` wide.

    Args:
        members: Two or more built `CrossModalEncoder`s taking the same inputs:
            the same input shapes and, for raw captions, the same vocabulary
            (members trained on the same pairs have it).
        **kwargs: Base model arguments.

    Call arguments:
        inputs: Dict with `"image"` and/or `"text"` batches.

    Returns:
        Dict with the same keys, each `(batch, output_dim)` with unit L2 norm.

    Example:
    ```python
    ensemble = EnsembleEncoder([load_run(d)[1] for d in member_dirs])
    ensemble.predict_arrays(images, "image")  # (n, ensemble.output_dim)
    ```
    """

    def __init__(self, members, **kwargs):
        super().__init__(**kwargs)
        members = list(members)
        if len(members) < 2 or not all(
            isinstance(m, CrossModalEncoder) for m in members
        ):
            raise InvalidInputError(
                "`members` must be two or more `CrossModalEncoder`s. Received: "
                f"{[type(m).__name__ for m in members]}"
            )
        # A loaded member's shapes are JSON lists, a built one's tuples.
        shapes = [
            {k: tuple(v) for k, v in m.get_build_config()["input_shape"].items()}
            for m in members
        ]
        if any(shape != shapes[0] for shape in shapes):
            raise InvalidInputError(
                f"Ensemble members take different inputs: {shapes}."
            )
        vocabularies = [_vocabulary(m) for m in members]
        if any(vocabulary != vocabularies[0] for vocabulary in vocabularies):
            raise InvalidInputError(
                "Ensemble members tokenise captions differently (different "
                "vocabularies or one without a text vectoriser): train them on "
                "the same pairs."
            )
        self.members = members
        self.build(shapes[0])

    @property
    def text_vectorizer(self):
        """The members' shared tokeniser of raw captions, or `None`."""
        return self.members[0].text_vectorizer

    @property
    def generators(self):
        """Every member's `CrossModalAutoencoder`."""
        return tuple(m.generator for m in self.members)

    @property
    def output_dim(self):
        """Size of the representations `encode` returns."""
        return sum(m.output_dim for m in self.members)

    def tokenize(self, texts):
        """Returns `(batch, sequence_length)` int32 token ids (see the members')."""
        return self.members[0].tokenize(texts)

    def encode(self, inputs, modality, *, tokenized=False):
        """Returns `(batch, output_dim)` unit-norm representations of one modality.

        Args:
            inputs: A batch of `modality` inputs.
            modality: `"image"` or `"text"`.
            tokenized: Raw texts only: `inputs` are token ids.
        """
        if modality == "text" and self.text_vectorizer is not None and not tokenized:
            # Tokenised once for all members.
            inputs, tokenized = self.tokenize(inputs), True
        return combine_member_representations(
            [m.encode(inputs, modality, tokenized=tokenized) for m in self.members]
        )

    def with_class_weighting(self, class_weight, temperature):
        """Returns the ensemble of the members' `with_class_weighting` encoders."""
        return type(self)(
            [m.with_class_weighting(class_weight, temperature) for m in self.members]
        )

    def build(self, input_shape):
        # The members come built (their build configs are compared above);
        # building records the ensemble's input shapes, which export reads.
        del input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "members": [keras.saving.serialize_keras_object(m) for m in self.members],
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["members"] = [
            keras.saving.deserialize_keras_object(m) for m in config["members"]
        ]
        return cls(**config)


def combine_member_representations(parts):
    """Joins members' representations into the ensemble's.

    Args:
        parts: One `(batch, dim_k)` unit-norm representation per member.

    Returns:
        `(batch, sum(dim_k))`, unit norm: a dot product of two rows is the
        mean of the members' cosines.
    """
    return ops.concatenate(parts, axis=-1) * len(parts) ** -0.5


def _vocabulary(encoder):
    vectorizer = encoder.text_vectorizer
    return None if vectorizer is None else vectorizer.get_vocabulary()
