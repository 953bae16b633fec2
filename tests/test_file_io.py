import uuid

import pytest
import tensorflow as tf

from cmgan_tf import file_io
from cmgan_tf.errors import InvalidInputError


@pytest.fixture(params=["local", "ram"])
def root(request, tmp_path):
    """A fresh directory on the local disk or on TensorFlow's `ram://` system."""
    if request.param == "local":
        return str(tmp_path)
    path = f"ram://test-{uuid.uuid4().hex}"
    tf.io.gfile.makedirs(path)
    return path


def _visible(directory):
    return [n for n in file_io.listdir(directory) if not n.startswith(".")]


def test_json_round_trips_and_leaves_no_temporary_file(root):
    path = file_io.join(root, "metrics.json")
    file_io.write_json_atomically(path, {"b": [1, 2], "a": 0.5})
    file_io.write_json_atomically(path, {"b": [3], "a": 1.5})
    assert file_io.read_json(path) == {"a": 1.5, "b": [3]}
    assert file_io.listdir(root) == ["metrics.json"]


def test_a_failed_save_keeps_the_old_file_and_no_partial_one(root):
    path = file_io.join(root, "best.weights.h5")
    file_io.write_bytes_atomically(path, b"old")
    seen = []

    def fail_half_way(temporary):
        seen.append(temporary)
        with tf.io.gfile.GFile(temporary, "wb") as handle:
            handle.write(b"par")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        file_io.save_atomically(path, fail_half_way)
    # Keras checks the file ending, so the temporary path keeps it.
    assert seen[0].endswith(".weights.h5") and seen[0] != path
    with tf.io.gfile.GFile(path, "rb") as handle:
        assert handle.read() == b"old"
    assert file_io.listdir(root) == ["best.weights.h5"]


def test_a_staged_directory_appears_whole_or_not_at_all(root):
    target = file_io.join(root, "1")
    with pytest.raises(RuntimeError):
        with file_io.staged_directory(target) as staging:
            file_io.write_text_atomically(file_io.join(staging, "a.txt"), "a")
            raise RuntimeError("conversion failed")
    assert _visible(root) == []

    with file_io.staged_directory(target) as staging:
        tf.io.gfile.makedirs(file_io.join(staging, "variables"))
        file_io.write_text_atomically(file_io.join(staging, "variables", "v"), "v")
        file_io.write_text_atomically(file_io.join(staging, "a.txt"), "a")
    assert _visible(root) == ["1"]
    assert file_io.listdir(target) == ["a.txt", "variables"]
    assert file_io.read_text(file_io.join(target, "variables", "v")) == "v"


def test_overwriting_a_staged_directory_replaces_it_only_when_complete(root):
    target = file_io.join(root, "export")
    with file_io.staged_directory(target) as staging:
        file_io.write_text_atomically(file_io.join(staging, "old.txt"), "old")
    with pytest.raises(RuntimeError):
        with file_io.staged_directory(target, overwrite=True) as staging:
            file_io.write_text_atomically(file_io.join(staging, "new.txt"), "new")
            raise RuntimeError
    assert file_io.listdir(target) == ["old.txt"]
    with file_io.staged_directory(target, overwrite=True) as staging:
        file_io.write_text_atomically(file_io.join(staging, "new.txt"), "new")
    assert file_io.listdir(target) == ["new.txt"]
    assert _visible(root) == ["export"]


def test_make_directory_creates_parents(root):
    path = file_io.join(root, "a", "b")
    assert file_io.make_directory(path, "model directory") == path
    assert file_io.isdir(path) and file_io.listdir(path) == []


@pytest.mark.parametrize("where", ["/proc/forbidden/run", "under_a_file"])
def test_a_directory_that_cannot_be_created_is_one_clear_error(tmp_path, where):
    if where == "under_a_file":
        (tmp_path / "file").write_text("")
        where = str(tmp_path / "file" / "run")
    with pytest.raises(InvalidInputError) as error:
        file_io.make_directory(where, "model directory (--model_dir)")
    message = str(error.value)
    expected = f"Cannot create the model directory (--model_dir) {where}"
    assert message.startswith(expected)
    assert "\n" not in message
