"""Caption tokenisation for on-device text encoders, without TensorFlow."""

import pathlib
import re

import numpy as np

# The standardisation of `TextVectorization(standardize=
# "lower_and_strip_punctuation", split="whitespace")`: `tf.strings.lower`
# lower-cases ASCII letters only, the punctuation class is Keras' own, and
# `tf.strings.split` splits on ASCII whitespace only.
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_PUNCTUATION = re.compile(r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']')
_WHITESPACE = re.compile(r"[ \t\n\v\f\r]+")
# The rule above, for an app that tokenises captions itself: shipped as
# `tokenizer.json` beside (or inside) the on-device text models.
TOKENIZER_RULE = {
    "lowercase": "ASCII letters A-Z only",
    "strip_regex": _PUNCTUATION.pattern,
    "split_regex": _WHITESPACE.pattern,
    "ids": "line index in vocabulary.txt; 0 pads, 1 ([UNK]) is any other token",
    "length": "the first sequence_length tokens, padded with 0 to that length",
}


class CaptionTokenizer:
    """Turns captions into the token ids of the model's `TextVectorization`.

    Args:
        vocabulary: Tokens in id order: `""` (padding, id 0), `"[UNK]"`
            (out of vocabulary, id 1), then the words.
        sequence_length: Ids per caption; longer captions are truncated,
            shorter ones padded with 0.

    Example:
    >>> CaptionTokenizer(["", "[UNK]", "red", "circle"], 4)(["A red, RED circle!"])
    array([[1, 2, 2, 3]], dtype=int32)
    """

    def __init__(self, vocabulary, sequence_length):
        self.vocabulary = list(vocabulary)
        self.sequence_length = int(sequence_length)
        self._ids = {token: i for i, token in enumerate(self.vocabulary)}

    @classmethod
    def from_file(cls, path, sequence_length):
        """Reads `vocabulary.txt`: one token per line, in id order."""
        lines = pathlib.Path(path).read_text(encoding="utf-8").split("\n")
        return cls(lines[:-1] if lines[-1] == "" else lines, sequence_length)

    def __call__(self, texts):
        """Returns `(len(texts), sequence_length)` int32 token ids."""
        ids = np.zeros((len(texts), self.sequence_length), np.int32)
        for row, text in enumerate(texts):
            if isinstance(text, bytes):
                text = text.decode("utf-8")
            standardized = _PUNCTUATION.sub("", text.translate(_ASCII_LOWER))
            tokens = [t for t in _WHITESPACE.split(standardized) if t]
            tokens = tokens[: self.sequence_length]
            ids[row, : len(tokens)] = [self._ids.get(t, 1) for t in tokens]
        return ids
