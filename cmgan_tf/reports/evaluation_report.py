"""Everything an evaluation shows beyond the MAP table, written in one call.

`write_evaluation_report` embeds a dataset's test split with a trained
encoder and writes, into one directory (replaced as a whole, so it never
mixes two evaluations):

- `retrieval_report.json`: per direction, MAP, recall@1/5/10 of the true
  partner, precision@k, the precision-recall points and per-class AP; the
  same for random rankings;
- `precision_recall.png`: interpolated precision-recall of Image→Text and
  Text→Image, random rankings dashed;
- `precision_at_k.png`: precision@k against k, four directions;
- `per_class_ap.png`: AP per query class, weakest on top;
- `training_history.png`: every loss term and validation MAP per epoch (when
  a history is given);
- `grid_image_to_text.png`, `grid_text_to_image.png`: queries and their top
  results, framed green (relevant) or red; `retrieval_grid.json` their ids;

and the projector run `<log_dir>/projector` (see `reports.projector`).
"""

from cmgan_tf import file_io
from cmgan_tf.reports import grid, plots, projector
from cmgan_tf.retrieval.evaluation import random_embeddings, retrieval_report

REPORT_FILE = "retrieval_report.json"
GRID_FILE = "retrieval_grid.json"


def write_evaluation_report(
    output_dir,
    encoder,
    dataset,
    *,
    log_dir=None,
    history=None,
    exclude_query_from_gallery=True,
    queries=None,
    num_queries=6,
    top_k=5,
    seed=0,
):
    """Writes the figures, grid and JSON of an evaluation on the test split.

    Args:
        output_dir: Directory to write (replaced if it exists).
        encoder: A `RetrievalEncoder` (a `CrossModalEncoder` or an
            `EnsembleEncoder`).
        dataset: The `CrossModalDataset` whose `test` split is evaluated.
        log_dir: TensorBoard log directory that receives the projector run,
            or `None` for none. Defaults to `None`.
        history: Dict from metric name to per-epoch values (the `history`
            of `metrics.json`), or `None` to skip its figure. Defaults to
            `None`.
        exclude_query_from_gallery: See `cross_modal_retrieval_scores`.
            Defaults to `True`.
        queries: Pair ids of the test split shown in the grid, or `None` for
            `num_queries` drawn with `seed`. Defaults to `None`.
        num_queries: Grid rows when `queries` is `None`. Defaults to 6.
        top_k: Results per grid row. Defaults to 5.
        seed: Seed of the grid's queries and of the random rankings.
            Defaults to 0.

    Returns:
        Dict with `files`, from each written file's name to its path,
        `image_sizes`, from each PNG's name to its `(width, height)` in
        pixels, and `projector`, the projector run's path or `None`.

    Raises:
        InvalidInputError: if a query id does not exist in the test split,
            or `output_dir` cannot be written.
    """
    split = dataset.test
    query_ids = grid.choose_queries(
        split.num_pairs, queries=queries, num_queries=num_queries, seed=seed
    )
    class_names = dataset.class_names or tuple(
        f"class {i}" for i in range(split.num_classes)
    )
    images = encoder.predict_arrays(split.images, "image")
    texts = encoder.predict_arrays(split.texts, "text")
    report = retrieval_report(
        images,
        texts,
        split.labels,
        exclude_query_from_gallery=exclude_query_from_gallery,
    )
    chance = retrieval_report(
        *random_embeddings(split.num_pairs, seed=seed),
        split.labels,
        exclude_query_from_gallery=exclude_query_from_gallery,
    )
    ranked = grid.retrieval_grid(images, texts, split.labels, query_ids, top_k=top_k)
    figures = {
        "precision_recall.png": plots.precision_recall_figure(report, chance),
        "precision_at_k.png": plots.precision_at_k_figure(report, chance),
        "per_class_ap.png": plots.per_class_figure(report, class_names),
        **{
            f"grid_{direction}.png": grid.grid_figure(
                ranked[direction], direction, split, class_names
            )
            for direction in grid.DIRECTIONS
        },
    }
    if history:
        figures["training_history.png"] = plots.history_figure(history)
    output_dir = str(output_dir).rstrip("/")
    image_sizes = {}
    file_io.make_directory(output_dir, "evaluation directory")
    with file_io.staged_directory(output_dir, overwrite=True) as staging:
        for name, figure in sorted(figures.items()):
            image_sizes[name] = plots.save_png(figure, file_io.join(staging, name))
        file_io.write_json_atomically(
            file_io.join(staging, REPORT_FILE),
            {
                "dataset": dataset.name,
                "split": "test",
                "class_names": list(class_names),
                "exclude_query_from_gallery": exclude_query_from_gallery,
                "model": report,
                "random_ranking": chance,
            },
        )
        file_io.write_json_atomically(
            file_io.join(staging, GRID_FILE),
            {"dataset": dataset.name, "split": "test", "top_k": top_k, **ranked},
        )
    return {
        "files": {
            name: file_io.join(output_dir, name)
            for name in [*figures, REPORT_FILE, GRID_FILE]
        },
        "image_sizes": image_sizes,
        "projector": None
        if log_dir is None
        else projector.write_projector(log_dir, images, texts, split, class_names),
    }
