"""A TensorFlow Serving model repository: `<export_dir>/<model_name>/<version>/`.

TF Serving watches a model's base path and loads its highest numeric version
directory; `models.config` lists the repository's models for
`--model_config_file`. Versions are written complete or not at all.
"""

import os
import re

from cmgan_tf import file_io
from cmgan_tf.checks import check_positive_int
from cmgan_tf.errors import InvalidInputError
from cmgan_tf.serving.signatures import export_saved_model

MODELS_CONFIG_FILE = "models.config"
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def next_version(model_root):
    """Returns 1 + the highest numeric version directory in `model_root`."""
    return max(_versions(model_root), default=0) + 1


def _versions(model_root):
    """Numeric version directory names of a model, as ints."""
    return [
        int(name.rstrip("/"))
        for name in file_io.listdir(model_root)
        if name.rstrip("/").isdigit() and file_io.isdir(file_io.join(model_root, name))
    ]


def write_serving_version(
    encoder,
    export_dir,
    *,
    model_name="cmgan",
    version=None,
    overwrite=False,
    config=None,
    galleries=None,
    top_k=10,
    serving_base_path=None,
):
    """Adds a version of a model to a TensorFlow Serving model repository.

    The SavedModel is written into a hidden temporary directory beside the
    version directory and renamed into place only when complete. TF Serving
    loads numeric directories only, so it never sees a partial version, and a
    failure leaves nothing behind. `models.config` is then rewritten to list
    every model of `export_dir`.

    Args:
        encoder: A built `RetrievalEncoder` (a `CrossModalEncoder` or an
            `EnsembleEncoder`).
        export_dir: Root of the model repository.
        model_name: Name the model is served under.
        version: Positive int; `None` takes the next free number.
        overwrite: Replace an existing version. Defaults to `False`.
        config: Optional `ExperimentConfig`, saved with the model.
        galleries: Optional dict from modality to `Gallery`.
        top_k: Items each retrieval returns.
        serving_base_path: The path under which TF Serving sees `export_dir`
            (for example `/models` inside its Docker container); defaults to
            the absolute path of `export_dir`.

    Returns:
        The written version directory, a string.

    Raises:
        InvalidInputError: On a bad name or version, an existing version
            without `overwrite`, or an export directory that cannot be written.
    """
    if not isinstance(model_name, str) or not _MODEL_NAME.match(model_name):
        raise InvalidInputError(
            "`model_name` must be letters, digits, '_', '.' or '-', starting "
            f"with a letter or digit. Received: model_name={model_name!r}"
        )
    if version is not None:
        check_positive_int("version", version)
    model_root = file_io.join(export_dir, model_name)
    target = file_io.join(model_root, str(version or next_version(model_root)))
    if file_io.exists(target) and not overwrite:
        raise InvalidInputError(
            f"{target} already exists. Choose another --version or pass --overwrite."
        )
    created = _missing_directories(model_root)
    file_io.make_directory(model_root, "export directory")
    try:
        with file_io.staged_directory(target, overwrite=overwrite) as staging:
            export_saved_model(
                encoder,
                staging,
                config=config,
                galleries=galleries,
                top_k=top_k,
                model_name=model_name,
            )
    except BaseException:
        for directory in reversed(created):
            if not file_io.listdir(directory):
                file_io.remove_tree(directory)
        raise
    write_models_config(export_dir, serving_base_path)
    return target


def _missing_directories(path):
    """`path` and those of its parents that do not exist, outermost first."""
    missing = []
    while path and not file_io.exists(path):
        missing.append(path)
        parent = path.rstrip("/").rsplit("/", 1)[0]
        if parent == path:
            break
        path = parent
    return missing[::-1]


def write_models_config(export_dir, serving_base_path=None):
    """Writes `<export_dir>/models.config` for `--model_config_file`.

    It lists every model directory of `export_dir` that holds at least one
    numeric version, in the text format of TF Serving's `ModelServerConfig`.

    Args:
        export_dir: Root of the model repository.
        serving_base_path: Where TF Serving sees `export_dir`; defaults to its
            absolute path.

    Returns:
        The file's path, a string.
    """
    root = str(export_dir)
    base = serving_base_path or (
        os.path.realpath(root) if file_io.is_local(root) else root
    )
    models = [
        name.rstrip("/")
        for name in file_io.listdir(root)
        if not name.startswith(".") and _versions(file_io.join(root, name))
    ]
    entries = "".join(
        "  config {\n"
        f"    name: '{name}'\n"
        f"    base_path: '{base.rstrip('/')}/{name}'\n"
        "    model_platform: 'tensorflow'\n"
        "  }\n"
        for name in models
    )
    return file_io.write_text_atomically(
        file_io.join(root, MODELS_CONFIG_FILE), f"model_config_list {{\n{entries}}}\n"
    )
