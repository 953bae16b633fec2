"""Exporting a finished run: a TensorFlow Serving version or TFLite files."""

from absl import logging

from cmgan_tf.errors import InvalidInputError
from cmgan_tf.models.autoencoder import MODALITIES
from cmgan_tf.retrieval.gallery_dir import GalleryDirectory, config_fingerprint
from cmgan_tf.runs import model_dir as run_files
from cmgan_tf.runs.data import load_configured_dataset
from cmgan_tf.serving import gallery, parity, repository
from cmgan_tf.serving import tflite as tflite_export

GALLERY_SPLITS = ("test", "train", "none")


def export_serving_model(
    model_dir,
    export_dir,
    *,
    model_name="cmgan",
    version=None,
    overwrite=False,
    gallery_split=None,
    gallery_file=None,
    gallery_dir=None,
    top_k=10,
    serving_base_path=None,
    data_dir=None,
    check_parity=False,
):
    """Exports a trained run as a version of a TF Serving model.

    Args:
        model_dir: Directory written by `cmgan-train`.
        export_dir: Root of the model repository (see
            `repository.write_serving_version`).
        model_name: Name the model is served under.
        version: Positive int, or `None` for the next free number.
        overwrite: Replace an existing version.
        gallery_split: `"test"` or `"train"`: the retrieval signatures rank
            that split of the run's dataset (ids are indices in the split);
            `"none"`: no retrieval signatures. Defaults to `"test"` unless a
            gallery file or directory is given.
        gallery_file: A `.npz` of embeddings to rank instead (see
            `gallery.load_gallery_file`).
        gallery_dir: A gallery directory of this run (written by
            `cmgan-embed`) to rank instead; the signatures return its
            string ids.
        top_k: Items each retrieval returns.
        serving_base_path: Where TF Serving sees `export_dir`.
        data_dir: Overrides the dataset location recorded in `config.json`.
        check_parity: Reload the written SavedModel and compare it with the
            Keras encoder on the test split.

    Returns:
        Dict with `path` (the version directory) and, with `check_parity`,
        `parity` (see `parity.saved_model_parity`).
    """
    given = [g for g in (gallery_split, gallery_file, gallery_dir) if g is not None]
    if len(given) > 1:
        raise InvalidInputError(
            "Give one of --gallery, --gallery_file and --gallery_dir. Received: "
            f"{', '.join(map(str, given))}."
        )
    gallery_split = gallery_split or ("none" if given else "test")
    if gallery_split not in GALLERY_SPLITS:
        raise InvalidInputError(
            f"`gallery` must be one of {', '.join(GALLERY_SPLITS)}. "
            f"Received: {gallery_split!r}"
        )
    config, encoder = run_files.load_run(model_dir)
    dataset = None
    if gallery_split != "none" or check_parity:
        dataset = load_configured_dataset(config.data, data_dir)
    if gallery_dir:
        galleries = _run_galleries(gallery_dir, config, model_dir)
    elif gallery_file:
        galleries = gallery.load_gallery_file(gallery_file)
    elif gallery_split == "none":
        galleries = {}
    else:
        split = getattr(dataset, gallery_split)
        galleries = {
            m: gallery.gallery_from_split(encoder, split, m) for m in MODALITIES
        }
    path = repository.write_serving_version(
        encoder,
        export_dir,
        model_name=model_name,
        version=version,
        overwrite=overwrite,
        config=config,
        galleries=galleries,
        top_k=top_k,
        serving_base_path=serving_base_path,
    )
    logging.info("Wrote %s.", path)
    result = {"path": str(path)}
    if check_parity:
        result["parity"] = parity.saved_model_parity(
            path, encoder, dataset.test, galleries
        )
    return result


def _run_galleries(gallery_dir, config, model_dir):
    """The galleries of a gallery directory, refused if another run made it."""
    directory = GalleryDirectory(gallery_dir)
    directory.check_run(config_fingerprint(config.to_json()), model_dir)
    return gallery.gallery_from_directory(directory)


def export_tflite_model(
    model_dir,
    export_dir,
    *,
    variants=None,
    overwrite=False,
    data_dir=None,
    check_parity=False,
    gallery_dir=None,
    top_k=10,
):
    """Exports a trained run's encoders as TFLite files.

    Args:
        model_dir: Directory written by `cmgan-train`.
        export_dir: Directory to create (see `tflite.export_tflite`).
        variants: Subset of `tflite.VARIANTS`; default: those the encoder
            supports (`tflite.supported_variants`).
        overwrite: Replace an existing `export_dir`.
        data_dir: Overrides the dataset location recorded in `config.json`.
        check_parity: Compare every file with the Keras encoder on the test
            split (`parity.tflite_parity`).
        gallery_dir: A gallery directory of this run: adds a
            `retrieve_with_{modality}.tflite` per query modality.
        top_k: Items each retrieve model returns.

    Returns:
        Dict with `path`, `manifest` and, with `check_parity`, `parity`.
    """
    config, encoder = run_files.load_run(model_dir)
    if variants is None:
        variants = tflite_export.supported_variants(encoder)
        if variants != tflite_export.VARIANTS:
            logging.info(
                "Writing the %s variants only: 8-bit weights cannot hold this "
                "model's kernel feature map.",
                ", ".join(variants),
            )
    dataset = None
    if "int8" in variants or check_parity:
        dataset = load_configured_dataset(config.data, data_dir)
    representative = None
    if "int8" in variants:
        representative = {"image": dataset.train.images, "text": dataset.train.texts}
    manifest = tflite_export.export_tflite(
        encoder,
        export_dir,
        variants=variants,
        representative_inputs=representative,
        overwrite=overwrite,
        config=config,
        galleries=gallery_dir and _run_galleries(gallery_dir, config, model_dir),
        top_k=top_k,
    )
    logging.info("Wrote %s.", export_dir)
    result = {"path": str(export_dir), "manifest": manifest}
    if check_parity:
        result["parity"] = parity.tflite_parity(export_dir, encoder, dataset.test)
    return result
