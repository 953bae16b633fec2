"""`CrossModalEncoder`: the trained model as used for retrieval and serving."""

import keras
import numpy as np
from keras import ops

from cmgan_tf.errors import InvalidInputError
from cmgan_tf.models.autoencoder import MODALITIES

REPRESENTATIONS = (
    "common",
    "standardized_common",
    "class_probabilities",
    "standardized_common_and_classes",
)
# The representations that standardise the common representation.
STANDARDIZED = ("standardized_common", "standardized_common_and_classes")
# The representations that rank by the semantic classifier's probabilities.
CLASS_REPRESENTATIONS = ("class_probabilities", "standardized_common_and_classes")


class RetrievalEncoder(keras.Model):
    """What retrieval, serving and export use of an encoder.

    Subclasses implement `encode(inputs, modality, *, tokenized=False)`,
    returning `(batch, output_dim)` unit-norm representations, `output_dim`,
    `tokenize`, `text_vectorizer` (`None` for text features) and `generators`
    (the `CrossModalAutoencoder`s they run).
    """

    def encode_image(self, images):
        """Returns `(batch, dim)` unit-norm image representations (see `encode`)."""
        return self.encode(images, "image")

    def encode_text(self, texts):
        """Returns `(batch, dim)` unit-norm text representations (see `encode`)."""
        return self.encode(texts, "text")

    def predict_arrays(self, inputs, modality, batch_size=1024):
        """Encodes a NumPy array in batches and returns a NumPy array.

        Args:
            inputs: `(n, ...)` inputs of `modality`.
            modality: `"image"` or `"text"`.
            batch_size: Inference batch size.

        Returns:
            `(n, output_dim)` float32 array.
        """
        return in_batches(lambda x: self.encode(x, modality), inputs, batch_size)

    def call(self, inputs):
        return {m: self.encode(inputs[m], m) for m in MODALITIES if m in inputs}


@keras.saving.register_keras_serializable(package="cmgan_tf")
class CrossModalEncoder(RetrievalEncoder):
    """Maps images and texts to L2-normalised representations for retrieval.

    The encoding half of a trained `CrossModalAutoencoder`, followed by one of
    three retrieval representations (`REPRESENTATIONS`) and L2 normalisation,
    so that a dot product is the cosine similarity that retrieval ranks by:

    - `"common"`: the common representation `s`, as in the paper;
    - `"standardized_common"`: `s` standardised per dimension with statistics
      of the training pairs (the authors' evaluation standardises too, with
      test statistics);
    - `"class_probabilities"`: the semantic classifier's class probabilities
      of `s`, softmax (sigmoid for multi-label data) of `logits / temperature`.
      The classifier is a linear map of `s` trained on both modalities, so
      this is `s` projected onto the directions that separate classes; a low
      temperature sharpens it towards the predicted class.
    - `"standardized_common_and_classes"`: both of the above, each L2
      normalised, the class probabilities scaled by `sqrt(class_weight)` and
      appended: a dot product is then `(cos_common + class_weight *
      cos_classes) / (1 + class_weight)`. Items of the predicted class rank
      first and, among them, the nearest in the common space; class
      probabilities alone tie every item of one predicted class.

    Everything is in the graph: the encoder takes the generator's inputs, and
    with a `text_vectorizer` it takes raw caption strings, tokenising them
    before the text trunk.

    Args:
        generator: A trained `CrossModalAutoencoder`.
        representation: One of `REPRESENTATIONS`. Defaults to `"common"`.
        statistics: For the `STANDARDIZED` representations, a dict with `image_mean`,
            `image_variance`, `text_mean`, `text_variance`, each
            `(common_dim,)`; otherwise `None`.
        temperature: Softmax temperature of the class probabilities.
            Defaults to 1.
        class_weight: For `"standardized_common_and_classes"`, the weight of
            the class probabilities' cosine against the common
            representation's. Defaults to 1.
        multi_label: Whether items may have several labels (sigmoid instead
            of softmax). Defaults to `False`.
        text_vectorizer: For a generator with a token-id text trunk, the
            adapted `keras.layers.TextVectorization` that turns strings into
            its inputs; `None` when texts are feature vectors.
        **kwargs: Base model arguments.

    Call arguments:
        inputs: Dict with `"image"` and/or `"text"` batches.

    Returns:
        Dict with the same keys, each `(batch, dim)` with unit L2 norm, where
        `dim` is `output_dim`.
    """

    def __init__(
        self,
        generator,
        representation="common",
        statistics=None,
        temperature=1.0,
        multi_label=False,
        text_vectorizer=None,
        class_weight=1.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if representation not in REPRESENTATIONS:
            raise InvalidInputError(
                f"`representation` must be one of {', '.join(REPRESENTATIONS)}. "
                f"Received: representation={representation!r}"
            )
        if (representation in STANDARDIZED) != (statistics is not None):
            raise InvalidInputError(
                "`statistics` are required for, and only for, "
                f"representation in {STANDARDIZED}. Received: {representation!r}"
                f" with{'out' if statistics is None else ''} statistics."
            )
        if not temperature > 0:
            raise InvalidInputError(
                f"`temperature` must be positive. Received: temperature={temperature!r}"
            )
        if not class_weight > 0:
            raise InvalidInputError(
                "`class_weight` must be positive. "
                f"Received: class_weight={class_weight!r}"
            )
        self.generator = generator
        self.representation = representation
        self.temperature = float(temperature)
        self.class_weight = float(class_weight)
        self.multi_label = bool(multi_label)
        self.text_vectorizer = text_vectorizer
        self.statistics = (
            None
            if statistics is None
            else {k: np.asarray(v, "float32") for k, v in statistics.items()}
        )
        self.standardizations = (
            {}
            if self.statistics is None
            else {
                m: keras.layers.Normalization(
                    mean=self.statistics[f"{m}_mean"],
                    variance=self.statistics[f"{m}_variance"],
                    name=f"{m}_standardization",
                )
                for m in MODALITIES
            }
        )

    @classmethod
    def from_generator(
        cls,
        generator,
        images,
        texts,
        *,
        representation="common",
        temperature=1.0,
        multi_label=False,
        text_vectorizer=None,
        class_weight=1.0,
        batch_size=1024,
    ):
        """Builds an encoder, fitting any standardisation on training pairs.

        Args:
            generator: A trained `CrossModalAutoencoder`.
            images: `(n, ...)` training image inputs.
            texts: `(n, ...)` training text inputs.
            representation: One of `REPRESENTATIONS`.
            temperature: Softmax temperature of the class probabilities.
            multi_label: Whether items may have several labels.
            text_vectorizer: Tokeniser of raw texts, or `None`.
            class_weight: See the class.
            batch_size: Inference batch size.

        Returns:
            A built `CrossModalEncoder`.
        """
        statistics = None
        if representation in STANDARDIZED:
            # The statistics are those of what the standardisation will see.
            unstandardized = cls(generator, text_vectorizer=text_vectorizer)
            statistics = {}
            for modality, inputs in (("image", images), ("text", texts)):
                common = in_batches(
                    lambda x, m=modality: unstandardized.common_representation(x, m),
                    inputs,
                    batch_size,
                )
                statistics[f"{modality}_mean"] = common.mean(axis=0)
                # A dimension that is constant on the training pairs carries
                # no ranking information; a floor keeps it from dividing by 0.
                statistics[f"{modality}_variance"] = np.maximum(
                    common.var(axis=0), 1e-6
                )
        encoder = cls(
            generator,
            representation=representation,
            statistics=statistics,
            temperature=temperature,
            multi_label=multi_label,
            text_vectorizer=text_vectorizer,
            class_weight=class_weight,
        )
        encoder.build(
            {"image": (None, *images.shape[1:]), "text": (None, *texts.shape[1:])}
        )
        return encoder

    def tokenize(self, texts):
        """Returns the `(batch, sequence_length)` int32 token ids of raw captions.

        The one tokenisation of serving and export: the text trunk takes these
        ids, and so does the TFLite text encoder (see
        `cmgan_tf.serving.tokenizer` for the same rule outside TensorFlow).

        Args:
            texts: `(batch,)` strings.
        """
        return ops.cast(self.text_vectorizer(texts), "int32")

    def common_representation(self, inputs, modality, *, tokenized=False):
        """Returns the generator's `(batch, common_dim)` float32 common representation.

        Args:
            inputs: A batch of `modality` inputs (strings for raw texts).
            modality: `"image"` or `"text"`.
            tokenized: Raw texts only: `inputs` are already the
                `(batch, sequence_length)` token ids of `text_vectorizer`.
        """
        if modality == "text" and self.text_vectorizer is not None and not tokenized:
            inputs = self.tokenize(inputs)
        # Standardisation and L2 normalisation run in float32 even on a
        # generator built under a mixed dtype policy (as during training).
        return ops.cast(
            self.generator.encode(inputs, modality, training=False)[1], "float32"
        )

    def encode(self, inputs, modality, *, tokenized=False):
        """Returns `(batch, dim)` unit-norm representations of one modality.

        Args:
            inputs: A batch of `modality` inputs.
            modality: `"image"` or `"text"`.
            tokenized: Raw texts only: `inputs` are token ids (see
                `common_representation`), as on-device encoders take them.
        """
        return self.represent(
            self.common_representation(inputs, modality, tokenized=tokenized),
            modality,
        )

    def represent(self, common, modality):
        """Returns the `(batch, output_dim)` unit-norm representation of `common`.

        Args:
            common: `(batch, common_dim)` float32 common representations, as
                `common_representation` returns them.
            modality: `"image"` or `"text"`.
        """
        if self.representation == "common":
            return _unit(common)
        if self.representation == "class_probabilities":
            return _unit(self._class_probabilities(common, modality))
        standardized = _unit(self.standardizations[modality](common))
        if self.representation == "standardized_common":
            return standardized
        classes = _unit(self._class_probabilities(common, modality))
        # Both parts have unit norm, so the whole has norm sqrt(1 + weight).
        return (
            ops.concatenate([standardized, classes * self.class_weight**0.5], axis=-1)
            * (1.0 + self.class_weight) ** -0.5
        )

    def with_class_weighting(self, class_weight, temperature):
        """Returns an encoder ranking with another class weight and temperature.

        The new encoder shares this one's generator and standardisation
        statistics; only how the class probabilities join the common
        representation changes.

        Args:
            class_weight: See the class.
            temperature: Softmax temperature of the class probabilities.
        """
        encoder = type(self)(
            self.generator,
            representation=self.representation,
            statistics=self.statistics,
            temperature=temperature,
            multi_label=self.multi_label,
            text_vectorizer=self.text_vectorizer,
            class_weight=class_weight,
        )
        encoder.build(self.get_build_config()["input_shape"])
        return encoder

    def _class_probabilities(self, common, modality):
        logits = getattr(self.generator, f"{modality}_classifier")(common)
        scaled = logits / self.temperature
        return ops.sigmoid(scaled) if self.multi_label else ops.softmax(scaled)

    @property
    def output_dim(self):
        """Size of the representations `encode` returns."""
        if self.representation == "class_probabilities":
            return self.generator.num_classes
        if self.representation == "standardized_common_and_classes":
            return self.generator.common_dim + self.generator.num_classes
        return self.generator.common_dim

    @property
    def generators(self):
        """The one `CrossModalAutoencoder` this encoder runs, as a tuple."""
        return (self.generator,)

    def build(self, input_shape):
        if not self.generator.built:
            shapes = dict(input_shape)
            if self.text_vectorizer is not None:
                shapes["text"] = self.text_vectorizer.compute_output_shape(
                    shapes["text"]
                )
            self.generator.build(shapes)
        for layer in self.standardizations.values():
            layer.build((None, self.generator.common_dim))

    def get_config(self):
        return {
            **super().get_config(),
            "generator": keras.saving.serialize_keras_object(self.generator),
            "representation": self.representation,
            "temperature": self.temperature,
            "class_weight": self.class_weight,
            "multi_label": self.multi_label,
            "text_vectorizer": keras.saving.serialize_keras_object(
                self.text_vectorizer
            ),
            "statistics": None
            if self.statistics is None
            else {k: v.tolist() for k, v in self.statistics.items()},
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("generator", "text_vectorizer"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


def _unit(x):
    """L2-normalises the rows of `x`."""
    # `normalize` multiplies by a reciprocal square root rather than dividing
    # by the norm: a full-integer TFLite encoder cannot divide by a norm that
    # quantises to zero.
    return ops.normalize(x, axis=-1, order=2, epsilon=1e-12)


def in_batches(function, inputs, batch_size):
    """Applies `function` to consecutive batches of `inputs`; returns NumPy.

    Args:
        function: From a `(batch, ...)` slice of `inputs` to a `(batch, ...)`
            tensor.
        inputs: `(n, ...)` array.
        batch_size: Rows per call.

    Returns:
        `(n, ...)` NumPy array, the calls' results concatenated.
    """
    return np.concatenate(
        [
            ops.convert_to_numpy(function(inputs[i : i + batch_size]))
            for i in range(0, len(inputs), batch_size)
        ]
    )
