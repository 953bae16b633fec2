"""Reading a user's collection: sources, pairing and per-item problems."""

import numpy as np
import pytest
import tensorflow as tf

from cmgan_tf.data.collection import collection_from_split, read_collection
from cmgan_tf.data.demo import generate_shapes_split
from cmgan_tf.data.image_stream import image_file_stream
from cmgan_tf.errors import InvalidInputError


def _write_images(folder, names, size=20):
    images = generate_shapes_split(len(names), image_size=size, seed=3).images
    for name, image in zip(names, images, strict=True):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        encode = tf.io.encode_png if name.endswith(".png") else tf.io.encode_jpeg
        tf.io.write_file(str(path), encode(image))
    return images


def test_folder_is_searched_recursively_with_relative_ids(tmp_path):
    _write_images(tmp_path, ["b.png", "a/c.jpg", "a/d.JPEG"])
    (tmp_path / "notes.txt").write_text("not an image")
    collection = read_collection(images=tmp_path)
    assert collection.ids == ["a/c.jpg", "a/d.JPEG", "b.png"]
    assert collection.modalities == ("image",)
    assert collection.metadata(2) == {"path": str(tmp_path / "b.png")}
    assert not collection.bad


def test_list_file_reports_missing_images_by_line(tmp_path):
    _write_images(tmp_path, ["x.png"])
    (tmp_path / "list.txt").write_text("x.png\n\nmissing.png\n")
    collection = read_collection(images=tmp_path / "list.txt")
    assert collection.ids == ["x.png"]
    assert [str(b) for b in collection.bad] == [
        f"{tmp_path / 'list.txt'}, line 2: empty line",
        f"{tmp_path / 'list.txt'}, line 3: image not found: tried "
        f"{tmp_path / 'missing.png'}",
    ]


def test_captions_report_bad_lines_and_duplicate_ids(tmp_path):
    path = tmp_path / "captions.tsv"
    path.write_bytes(
        b"a\ta red circle\nb\t  \nc\t\xff\xfe broken\na\tagain\nd no tab\n"
    )
    collection = read_collection(captions=path)
    assert collection.ids == ["a"] and collection.captions == ["a red circle"]
    assert [b.where for b in collection.bad] == [
        f"{path}, line {n}" for n in (2, 3, 5, 4)
    ]
    assert "duplicate id 'a'" in collection.bad[-1].reason
    assert "line 1" in collection.bad[-1].reason


def test_plain_caption_ids_are_line_numbers(tmp_path):
    path = tmp_path / "captions.txt"
    path.write_text("first\r\nsecond\n")
    collection = read_collection(captions=path)
    assert collection.ids == ["1", "2"]
    assert collection.captions == ["first", "second"]


def test_tsv_pairs_captions_with_images_by_id(tmp_path):
    _write_images(tmp_path / "photos", ["p.png", "q/r.png"])
    captions = tmp_path / "captions.tsv"
    captions.write_text("q/r.png\tsecond\np.png\tfirst\n")
    collection = read_collection(images=tmp_path / "photos", captions=captions)
    assert collection.ids == ["p.png", "q/r.png"]
    assert collection.captions == ["first", "second"]
    assert collection.modalities == ("image", "text")

    captions.write_text("p.png\tfirst\nother.png\tsecond\n")
    with pytest.raises(InvalidInputError, match=r"without a caption: \['q/r.png'\]"):
        read_collection(images=tmp_path / "photos", captions=captions)


def test_plain_captions_pair_by_order_and_counts_must_match(tmp_path):
    _write_images(tmp_path / "photos", ["1.png", "2.png"])
    captions = tmp_path / "captions.txt"
    captions.write_text("one\n")
    with pytest.raises(InvalidInputError, match="2 images but 1 captions"):
        read_collection(images=tmp_path / "photos", captions=captions)


def test_feature_files_give_row_ids_or_their_own(tmp_path):
    np.save(tmp_path / "f.npy", np.ones((3, 4), np.float32))
    collection = read_collection(images=tmp_path / "f.npy")
    assert collection.ids == ["0", "1", "2"]
    assert isinstance(collection.image_array, np.memmap)
    np.savez(tmp_path / "t.npz", features=np.ones((2, 4)), ids=np.array(["x", "y"]))
    assert read_collection(captions=tmp_path / "t.npz").ids == ["x", "y"]
    with pytest.raises(InvalidInputError, match="holds no `features`"):
        np.savez(tmp_path / "bad.npz", other=np.ones(2))
        read_collection(images=tmp_path / "bad.npz")


def test_sources_must_exist_and_one_is_needed(tmp_path):
    with pytest.raises(InvalidInputError, match="Give --images, --captions or both"):
        read_collection()
    with pytest.raises(InvalidInputError, match="--images=.*does not exist"):
        read_collection(images=tmp_path / "nope")


def test_split_collection_names_rows():
    split = generate_shapes_split(3, image_size=16)
    collection = collection_from_split(split, "test")
    assert collection.ids == ["test/0", "test/1", "test/2"]
    assert collection.modalities == ("image", "text")
    assert collection.captions == list(split.texts)


def test_stream_resizes_and_leaves_out_undecodable_files(tmp_path):
    originals = _write_images(tmp_path, ["0.png", "2.png"], size=32)
    (tmp_path / "1.png").write_bytes(b"not a png")
    files = [str(tmp_path / f"{i}.png") for i in range(3)]
    rows, images = [], []
    for batch_rows, batch in image_file_stream(files, (16, 16), batch_size=2):
        rows += batch_rows.numpy().tolist()
        images.append(batch.numpy())
    images = np.concatenate(images)
    assert rows == [0, 2]
    assert images.shape == (2, 16, 16, 3) and images.dtype == np.uint8
    expected = tf.image.resize(originals[0], (16, 16), antialias=True).numpy()
    np.testing.assert_allclose(images[0], np.clip(np.rint(expected), 0, 255), atol=1)


def test_one_image_file_is_a_collection_of_one(tmp_path):
    _write_images(tmp_path, ["query.png"])
    collection = read_collection(images=tmp_path / "query.png")
    assert collection.ids == ["query.png"]
    assert collection.image_files == [str(tmp_path / "query.png")]
