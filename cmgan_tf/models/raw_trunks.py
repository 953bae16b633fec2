"""Learned trunks for raw images and token ids, in place of `FeatureTrunk`.

`ConvImageTrunk` maps pixel images to the original representation `v` and
`WordCNNTextTrunk` maps token ids to it; both plug into `CrossModalAutoencoder`
where `FeatureTrunk` does, and everything in their `call` compiles with XLA.

The text trunk takes token ids, not strings: string ops cannot be compiled by
XLA, so texts are tokenised outside the compiled step, in `tf.data` or in an
export wrapper, with the `TextVectorization` layer `make_text_vectorizer`
returns. Its ids match the trunk's conventions: 0 pads, 1 is out of
vocabulary.
"""

import keras
import numpy as np
from keras import ops

from cmgan_tf.checks import (
    check_positive_int,
    check_positive_ints,
    check_rate,
    is_positive_int,
)
from cmgan_tf.data.dataset import decode_texts
from cmgan_tf.errors import InvalidInputError


@keras.saving.register_keras_serializable(package="cmgan_tf")
class ConvImageTrunk(keras.layers.Layer):
    """VGG-style convolutional network from pixel images to a feature vector.

    One block per entry of `filters`: two 3x3 convolutions ('same' padding),
    each followed by BatchNorm (optional) and ReLU, then 2x2 max pooling. Global
    average pooling and a linear Dense layer give the original representation.
    Pixels are rescaled from [0, 255] to [-1, 1] inside the layer, so an
    exported model takes plain `uint8` images.

    Args:
        image_size: Side of the square input images, in pixels. Must be at
            least `2 ** len(filters)` so that every pooling has pixels left.
        filters: Convolution filters of each block, input side first. Defaults
            to `(32, 64, 128)`.
        units: Size of the output representation. Defaults to 256.
        channels: Channels of the input images (3 for RGB, 1 for grayscale).
            Defaults to 3.
        batch_norm: Whether to normalise every convolution output. Defaults to
            `True`.
        **kwargs: Base layer arguments (`name`, `dtype`, ...).

    Input shape: `(batch, image_size, image_size, channels)`, `uint8` or float
    in [0, 255]. Output shape: `(batch, units)`.

    Example:
    >>> trunk = ConvImageTrunk(8, filters=(4,), units=5)
    >>> tuple(trunk(np.zeros((2, 8, 8, 3), "uint8")).shape)
    (2, 5)
    """

    def __init__(
        self,
        image_size,
        filters=(32, 64, 128),
        units=256,
        channels=3,
        batch_norm=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_positive_int("image_size", image_size)
        filters = check_positive_ints("filters", filters)
        check_positive_int("units", units)
        check_positive_int("channels", channels)
        # 'valid' 2x2 pooling floors odd sides; a side that reaches zero before
        # the last block leaves nothing to pool.
        if image_size < 2 ** len(filters):
            raise InvalidInputError(
                f"`image_size` must be at least 2 ** len(filters) = "
                f"{2 ** len(filters)} for {len(filters)} pooling blocks. "
                f"Received: image_size={image_size}, filters={filters}"
            )
        self.image_size = int(image_size)
        self.filters = filters
        self.units = int(units)
        self.channels = int(channels)
        self.batch_norm = batch_norm
        self.feature_layers = []
        for block, block_filters in enumerate(filters):
            for conv in range(2):
                name = f"block{block}_conv{conv}"
                # BatchNorm's beta is the bias of a normalised convolution.
                self.feature_layers.append(
                    keras.layers.Conv2D(
                        block_filters,
                        3,
                        padding="same",
                        use_bias=not batch_norm,
                        name=name,
                    )
                )
                if batch_norm:
                    # Torch's momentum, as in `DenseBlock`.
                    self.feature_layers.append(
                        keras.layers.BatchNormalization(
                            momentum=0.9, name=f"{name}_batch_norm"
                        )
                    )
                self.feature_layers.append(keras.layers.ReLU(name=f"{name}_relu"))
            self.feature_layers.append(
                keras.layers.MaxPooling2D(2, name=f"block{block}_pool")
            )
        self.pooling = keras.layers.GlobalAveragePooling2D(name="global_pool")
        # Linear: the encoder's first DenseBlock normalises and activates `v`.
        self.dense = keras.layers.Dense(units, name="dense")

    @property
    def output_dim(self):
        """Size of the original representation this trunk produces."""
        return self.units

    def _check_input_shape(self, input_shape):
        expected = (self.image_size, self.image_size, self.channels)
        shape = tuple(input_shape)
        # Unknown (None) dimensions cannot be checked and are let through.
        if len(shape) != 4 or any(
            d is not None and d != e for d, e in zip(shape[1:], expected, strict=True)
        ):
            raise InvalidInputError(
                f"`{type(self).__name__}` expects images of shape "
                f"(batch, {', '.join(map(str, expected))}). "
                f"Received: shape={shape}"
            )

    def build(self, input_shape):
        self._check_input_shape(input_shape)
        shape = tuple(input_shape)
        for layer in self.feature_layers:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self.pooling.build(shape)
        self.dense.build(self.pooling.compute_output_shape(shape))

    def call(self, images, training=None):
        # `build` runs once; a later call with other images must fail as
        # clearly. Static shapes only, so this costs nothing under XLA.
        self._check_input_shape(images.shape)
        x = ops.cast(images, self.compute_dtype)
        # [-1, 1] rather than [0, 1]: centred inputs suit the first
        # convolution when it has no BatchNorm after it.
        x = x / 127.5 - 1.0
        for layer in self.feature_layers:
            x = layer(x, training=training)
        return self.dense(self.pooling(x))

    def compute_output_shape(self, input_shape):
        self._check_input_shape(input_shape)
        return (input_shape[0], self.units)

    def get_config(self):
        return {
            **super().get_config(),
            "image_size": self.image_size,
            "filters": self.filters,
            "units": self.units,
            "channels": self.channels,
            "batch_norm": self.batch_norm,
        }


@keras.saving.register_keras_serializable(package="cmgan_tf")
class DenseGradientEmbedding(keras.layers.Embedding):
    """`keras.layers.Embedding` whose gradient is a dense table of static shape.

    Keras' lookup differentiates to `IndexedSlices`, whose dense shape is
    computed in the graph. Inside a step compiled whole with XLA, that made
    XLA compile the step again at every step, with the variables the step
    reads as constants of each program (4 programs for 4 steps,
    `tests/test_cmgan.py::test_raw_input_trunks_compile_the_whole_step_once`;
    10 s a step for `benchmark_results/issue17_raw_trunk_recompile.py`
    against 0.01 s with this layer). The gradient here is the same sum of the
    upstream rows per token id, written as a segment sum over the static
    vocabulary size. The optimizers update the table densely either way.

    Takes the arguments of `keras.layers.Embedding`, except `mask_zero` and
    `lora_rank`, which it does not implement.

    Input shape: integer ids `(batch, ...)` in `[0, input_dim)`. Output
    shape: `(batch, ..., output_dim)`, in the layer's compute dtype.

    Example:
    >>> layer = DenseGradientEmbedding(5, 3)
    >>> tuple(layer(np.array([[0, 4]])).shape)
    (1, 2, 3)
    """

    def __init__(self, input_dim, output_dim, **kwargs):
        for unsupported in ("mask_zero", "lora_rank"):
            if kwargs.get(unsupported):
                raise InvalidInputError(
                    f"`{type(self).__name__}` does not implement `{unsupported}`. "
                    f"Received: {unsupported}={kwargs[unsupported]!r}"
                )
        super().__init__(input_dim, output_dim, **kwargs)

    def call(self, inputs):
        rows = _lookup_with_dense_gradient(
            self.embeddings, ops.cast(inputs, "int32"), self.input_dim
        )
        return ops.cast(rows, self.compute_dtype)


def _lookup_with_dense_gradient(table, ids, vocabulary_size):
    """Rows `table[ids]` `(*ids.shape, dim)`; the gradient is `(vocabulary, dim)`."""
    flat_ids = ops.reshape(ids, (-1,))

    @ops.custom_gradient
    def lookup(table):
        def gradient(*args, upstream=None):
            upstream = args[0] if upstream is None else upstream
            rows = ops.reshape(upstream, (-1, ops.shape(table)[-1]))
            return ops.segment_sum(rows, flat_ids, num_segments=vocabulary_size)

        return ops.take(table, ids, axis=0), gradient

    # `custom_gradient` differentiates tensors; a variable passed in would
    # need its own gradient path, so its value is read first.
    return lookup(ops.copy(table))


@keras.saving.register_keras_serializable(package="cmgan_tf")
class WordCNNTextTrunk(keras.layers.Layer):
    """Kim (2014) word CNN from token ids to a feature vector.

    Token embeddings go through one convolution per window size ('valid'
    padding, ReLU); each is max-pooled over time, and the pooled features are
    concatenated. Padding (id 0) has a learned embedding and no mask: a max
    over time needs none, and with 'valid' convolutions two paddings of the
    same ids give the same output once both are at least `max(window_sizes)`
    long, since every extra window is then one already present, all padding.

    Args:
        vocabulary_size: Number of token ids, padding (0) and out-of-vocabulary
            (1) included, as `make_text_vectorizer` produces them.
        sequence_length: Token ids per text. Must be at least
            `max(window_sizes)`.
        embedding_dim: Size of the token embeddings. Defaults to 64.
        window_sizes: Convolution widths, in tokens. Defaults to `(2, 3, 4)`.
        filters_per_window: Filters of each convolution. Defaults to 64.
        dropout: Dropout rate on the concatenated features. Defaults to 0.
        seed: Seed of the dropout masks. Defaults to `None`.
        **kwargs: Base layer arguments (`name`, `dtype`, ...).

    Input shape: `(batch, sequence_length)` integer token ids in
    `[0, vocabulary_size)`. Output shape:
    `(batch, len(window_sizes) * filters_per_window)`.

    Example:
    >>> trunk = WordCNNTextTrunk(10, 6, embedding_dim=4, filters_per_window=3)
    >>> tuple(trunk(np.zeros((2, 6), "int32")).shape)
    (2, 9)
    """

    def __init__(
        self,
        vocabulary_size,
        sequence_length,
        embedding_dim=64,
        window_sizes=(2, 3, 4),
        filters_per_window=64,
        dropout=0.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_positive_int("vocabulary_size", vocabulary_size)
        check_positive_int("sequence_length", sequence_length)
        check_positive_int("embedding_dim", embedding_dim)
        window_sizes = check_positive_ints("window_sizes", window_sizes)
        check_positive_int("filters_per_window", filters_per_window)
        check_rate("dropout", dropout)
        # A 'valid' convolution wider than the text has no output to pool.
        if sequence_length < max(window_sizes):
            raise InvalidInputError(
                f"`sequence_length` must be at least max(window_sizes) = "
                f"{max(window_sizes)}. Received: sequence_length={sequence_length}"
            )
        self.vocabulary_size = int(vocabulary_size)
        self.sequence_length = int(sequence_length)
        self.embedding_dim = int(embedding_dim)
        self.window_sizes = window_sizes
        self.filters_per_window = int(filters_per_window)
        self.dropout = dropout
        self.seed = seed
        self.embedding = DenseGradientEmbedding(
            vocabulary_size, embedding_dim, name="embedding"
        )
        self.convolutions = [
            keras.layers.Conv1D(
                filters_per_window,
                window,
                padding="valid",
                activation="relu",
                name=f"conv_{window}",
            )
            for window in window_sizes
        ]
        self.pooling = keras.layers.GlobalMaxPooling1D(name="max_over_time")
        self.dropout_layer = (
            keras.layers.Dropout(dropout, seed=seed) if dropout > 0 else None
        )

    @property
    def output_dim(self):
        """Size of the original representation this trunk produces."""
        return len(self.window_sizes) * self.filters_per_window

    def _check_input_shape(self, input_shape):
        shape = tuple(input_shape)
        if len(shape) != 2 or shape[1] not in (None, self.sequence_length):
            raise InvalidInputError(
                f"`{type(self).__name__}` expects token ids of shape "
                f"(batch, {self.sequence_length}). Received: shape={shape}"
            )

    def build(self, input_shape):
        self._check_input_shape(input_shape)
        self.embedding.build(input_shape)
        embedded = self.embedding.compute_output_shape(input_shape)
        for convolution in self.convolutions:
            convolution.build(embedded)

    def call(self, token_ids, training=None):
        self._check_input_shape(token_ids.shape)
        dtype = keras.backend.standardize_dtype(token_ids.dtype)
        # Embedding would cast floats to ids silently, and strings cannot reach
        # XLA at all; both mean the texts were not tokenised as intended.
        if "int" not in dtype:
            raise InvalidInputError(
                f"`{type(self).__name__}` expects integer token ids; tokenise "
                f"texts with `make_text_vectorizer`. Received: dtype={dtype}"
            )
        x = self.embedding(token_ids)
        x = ops.concatenate(
            [self.pooling(convolution(x)) for convolution in self.convolutions],
            axis=-1,
        )
        if self.dropout_layer is not None:
            x = self.dropout_layer(x, training=training)
        return x

    def compute_output_shape(self, input_shape):
        self._check_input_shape(input_shape)
        return (input_shape[0], self.output_dim)

    def get_config(self):
        return {
            **super().get_config(),
            "vocabulary_size": self.vocabulary_size,
            "sequence_length": self.sequence_length,
            "embedding_dim": self.embedding_dim,
            "window_sizes": self.window_sizes,
            "filters_per_window": self.filters_per_window,
            "dropout": self.dropout,
            "seed": self.seed,
        }


def make_text_vectorizer(texts, *, vocabulary_size, sequence_length):
    """Returns a `TextVectorization` layer adapted to training texts.

    Texts are lower-cased and stripped of punctuation, then split on
    whitespace. The vocabulary keeps the `vocabulary_size - 2` most frequent
    tokens after padding (id 0) and out-of-vocabulary (id 1). Outputs are
    `(batch, sequence_length)` int64 ids: shorter texts are padded with 0 at
    the end, longer ones truncated to their first `sequence_length` tokens.

    String ops cannot be compiled by XLA: run the layer in `tf.data` or in an
    export wrapper, and feed its ids to `WordCNNTextTrunk`.

    Args:
        texts: 1-D list or array of training texts, `str` or UTF-8 `bytes`.
        vocabulary_size: Maximum number of token ids, padding and
            out-of-vocabulary included.
        sequence_length: Token ids per text.

    Returns:
        The adapted `keras.layers.TextVectorization`.

    Raises:
        InvalidInputError: If `texts` is empty or not 1-D, if a text is empty,
            whitespace or punctuation only, or is bytes that are not valid
            UTF-8.
    """
    check_positive_int("sequence_length", sequence_length)
    # Padding and out-of-vocabulary take two ids; fewer leaves no words.
    if not is_positive_int(vocabulary_size) or vocabulary_size < 3:
        raise InvalidInputError(
            "`vocabulary_size` must be an integer of at least 3 (padding, "
            f"out-of-vocabulary, one word). Received: vocabulary_size="
            f"{vocabulary_size!r}"
        )
    decoded = decode_texts(texts)
    vectorizer = keras.layers.TextVectorization(
        max_tokens=int(vocabulary_size),
        output_sequence_length=int(sequence_length),
        standardize="lower_and_strip_punctuation",
    )
    vectorizer.adapt(np.asarray(decoded, dtype=object))
    # Punctuation-only captions pass the checks above but standardise to no
    # token at all: an all-padding input the model could only guess from.
    token_ids = keras.ops.convert_to_numpy(
        vectorizer(np.asarray(decoded, dtype=object))
    )
    wordless = np.flatnonzero(~token_ids.any(axis=1))
    if wordless.size:
        raise InvalidInputError(
            f"Text {wordless[0]} has no words once lower-cased and stripped of "
            f"punctuation: {decoded[wordless[0]]!r} ({wordless.size} such texts)."
        )
    return vectorizer
