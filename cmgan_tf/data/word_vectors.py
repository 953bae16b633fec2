"""Pretrained word vectors from a local text file (GloVe or word2vec format)."""

import numpy as np

from cmgan_tf.errors import InvalidInputError


def load_word_vectors(path, vocabulary, dim):
    """Reads the vectors of a vocabulary's tokens from a word-vector text file.

    The file has one `token v1 ... v_dim` line per word (GloVe), optionally
    after a `count dim` header line (word2vec's text format). Only the
    vocabulary's tokens are kept, so large files need little memory.

    Args:
        path: Path of the UTF-8 text file.
        vocabulary: Sequence of tokens; row `i` of the result is token `i`.
        dim: Expected vector size (the embedding size).

    Returns:
        `(vectors, found)`: `(len(vocabulary), dim)` float32 vectors, and a
        `(len(vocabulary),)` bool mask of the tokens the file has (other rows
        are zero).

    Raises:
        InvalidInputError: If the file is missing, empty or not UTF-8, a line
            does not hold a token and `dim` numbers, or its vectors are not
            `dim`-dimensional.
    """
    index = {token: i for i, token in enumerate(vocabulary)}
    vectors = np.zeros((len(vocabulary), dim), np.float32)
    found = np.zeros(len(vocabulary), bool)
    lines = 0
    try:
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                fields = line.rstrip("\n").rstrip(" ").split(" ")
                if number == 1 and len(fields) == 2 and _all_ints(fields):
                    if int(fields[1]) != dim:
                        raise InvalidInputError(
                            f"{path} holds {fields[1]}-dimensional vectors; the "
                            f"embedding has {dim} (--embedding_dim)."
                        )
                    continue
                if not line.strip():
                    continue
                lines += 1
                if len(fields) != dim + 1:
                    raise InvalidInputError(
                        f"{path}, line {number}: expected a token and {dim} "
                        f"numbers (--embedding_dim), found {len(fields) - 1} "
                        "values."
                    )
                row = index.get(fields[0])
                if row is None:
                    continue
                try:
                    vectors[row] = np.asarray(fields[1:], np.float32)
                except ValueError as error:
                    raise InvalidInputError(
                        f"{path}, line {number}: {error}."
                    ) from error
                found[row] = True
    except FileNotFoundError as error:
        raise InvalidInputError(f"--word_vectors={path} does not exist.") from error
    except UnicodeDecodeError as error:
        raise InvalidInputError(
            f"{path} is not UTF-8 text: {error.reason} at byte {error.start}."
        ) from error
    if lines == 0:
        raise InvalidInputError(f"{path} holds no word vectors.")
    if not np.isfinite(vectors).all():
        raise InvalidInputError(f"{path} holds NaN or Inf values.")
    return vectors, found


def _all_ints(fields):
    return all(field.isdigit() for field in fields)
