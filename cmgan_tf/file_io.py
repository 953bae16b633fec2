"""Writing files so that no reader ever sees one half-written, on any file system.

Every file a command writes goes through this module. It works on
`tf.io.gfile`, so a model directory or an export directory may be local or on
any file system TensorFlow knows (`gs://`, `s3://` with its plug-in, `ram://`
in tests). Paths are plain strings: `pathlib` would collapse the `//` of a
URL.

The three ways to write:

- `write_text_atomically` / `write_json_atomically`: a small file, written under
  a temporary name beside its destination and renamed.
- `save_atomically(path, save_fn)`: a file written by someone else's code
  (`model.save`, `save_weights`), given a temporary path with the same suffix.
- `staged_directory(target)`: a whole directory, filled under a hidden name and
  renamed into place.

A local rename is atomic. An object store has no rename: there a temporary
file is copied and deleted, so a reader may see the destination during the
copy, but never a file that was abandoned half-way.

Example:
>>> import json
>>> write_json_atomically("ram://doc/run/config.json", {"epochs": 2})
'ram://doc/run/config.json'
>>> read_json("ram://doc/run/config.json")
{'epochs': 2}
"""

import contextlib
import json
import os
import uuid

import tensorflow as tf

from cmgan_tf.errors import InvalidInputError

_TEMPORARY_PREFIX = ".partial-"


def is_local(path):
    """Whether `path` is on the local file system (no `scheme://`)."""
    return "://" not in str(path)


def join(path, *names):
    """Joins path components; keeps the `//` of a URL, unlike `pathlib`."""
    return os.path.join(str(path), *names)


def exists(path):
    """Whether a file or directory exists at `path`."""
    return tf.io.gfile.exists(str(path))


def isdir(path):
    """Whether `path` is an existing directory."""
    return tf.io.gfile.isdir(str(path))


def listdir(path):
    """Names in directory `path`, sorted; `[]` if it does not exist."""
    return sorted(tf.io.gfile.listdir(str(path))) if isdir(path) else []


def remove_tree(path):
    """Deletes a directory and everything in it, if it exists."""
    if exists(path):
        tf.io.gfile.rmtree(str(path))


def make_directory(path, what="directory"):
    """Creates `path` (and its parents) and checks that files can be written in it.

    Args:
        path: Directory to create; may exist already.
        what: What the directory is to the user, for the error message, e.g.
            `"model directory (--model_dir)"`.

    Returns:
        `path` as a string.

    Raises:
        InvalidInputError: one line naming the directory and the reason, if it
            cannot be created or written.
    """
    path = str(path)
    try:
        tf.io.gfile.makedirs(path)
    except (tf.errors.OpError, OSError) as error:
        raise InvalidInputError(
            f"Cannot create the {what} {path}: {_reason(error)}."
        ) from None
    probe = join(path, f"{_TEMPORARY_PREFIX}{uuid.uuid4().hex}")
    try:
        with tf.io.gfile.GFile(probe, "w") as handle:
            handle.write("")
        tf.io.gfile.remove(probe)
    except (tf.errors.OpError, OSError) as error:
        raise InvalidInputError(
            f"Cannot write to the {what} {path}: {_reason(error)}."
        ) from None
    return path


def _reason(error):
    # TensorFlow's messages repeat the path: "<path>; No such file or directory".
    message = getattr(error, "message", None) or str(error)
    return message.rsplit("; ", 1)[-1]


def read_text(path):
    """Returns the content of a UTF-8 text file."""
    with tf.io.gfile.GFile(str(path), "r") as handle:
        return handle.read()


def read_json(path):
    """Returns the JSON value stored in a file."""
    return json.loads(read_text(path))


def _temporary_path(path):
    # Same directory (so a local rename stays on one file system) and the
    # same ending (Keras checks that `save` gets `.keras`, `save_weights`
    # `.weights.h5`).
    directory, name = os.path.split(str(path))
    return join(directory, f"{_TEMPORARY_PREFIX}{uuid.uuid4().hex[:8]}-{name}")


def _move(source, destination):
    if is_local(source):
        os.replace(source, destination)
    else:
        tf.io.gfile.rename(source, destination, overwrite=True)


def save_atomically(path, save_fn):
    """Calls `save_fn(temporary_path)`, then moves its file to `path`.

    Args:
        path: Destination file.
        save_fn: Writes one file at the path it is given, which ends like
            `path` (e.g. `model.save` for `.keras`).

    Returns:
        `path` as a string.
    """
    path = str(path)
    temporary = _temporary_path(path)
    try:
        save_fn(temporary)
        _move(temporary, path)
    finally:
        if exists(temporary):
            tf.io.gfile.remove(temporary)
    return path


def write_text_atomically(path, text):
    """Writes `text` (UTF-8) to `path` under a temporary name, then renames it.

    Returns:
        `path` as a string.
    """

    def write(temporary):
        with tf.io.gfile.GFile(temporary, "w") as handle:
            handle.write(text)

    return save_atomically(path, write)


def write_bytes_atomically(path, data):
    """Writes `data` to `path` under a temporary name, then renames it."""

    def write(temporary):
        with tf.io.gfile.GFile(temporary, "wb") as handle:
            handle.write(data)

    return save_atomically(path, write)


def write_json_atomically(path, data):
    """Writes `data` as indented, key-sorted JSON, atomically (see module doc)."""
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    return write_text_atomically(path, text)


def _move_tree(source, destination):
    if is_local(source):
        os.replace(source, destination)
        return
    # Object stores (and `ram://`) rename files, not directories.
    for directory, _, files in tf.io.gfile.walk(source):
        relative = os.path.relpath(directory, source)
        target = destination if relative == "." else join(destination, relative)
        tf.io.gfile.makedirs(target)
        for name in files:
            tf.io.gfile.copy(join(directory, name), join(target, name), overwrite=True)
    tf.io.gfile.rmtree(source)


@contextlib.contextmanager
def staged_directory(target, *, overwrite=False):
    """Yields a hidden directory beside `target` that becomes `target` on success.

    If the body raises, the staged directory is removed and `target` is left
    as it was. With `overwrite`, an existing `target` is replaced only once the
    new one is complete.

    Args:
        target: Directory to write; its parent must exist.
        overwrite: Replace an existing `target`. Callers that do not allow
            overwriting check for an existing one first.

    Yields:
        The staged directory's path, a string.
    """
    target = str(target).rstrip("/")
    parent, name = os.path.split(target)
    staging = join(parent, f".{name}-{uuid.uuid4().hex[:8]}")
    tf.io.gfile.makedirs(staging)
    try:
        yield staging
        if overwrite and exists(target):
            # A rename cannot replace a non-empty directory: move the old one
            # aside first and delete it once the new one is in place.
            retired = join(parent, f".{name}-old-{uuid.uuid4().hex[:8]}")
            _move_tree(target, retired)
            _move_tree(staging, target)
            remove_tree(retired)
        else:
            _move_tree(staging, target)
    finally:
        remove_tree(staging)
