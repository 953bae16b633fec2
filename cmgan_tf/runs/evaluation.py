"""Evaluating a finished run on its dataset's test split."""

from cmgan_tf import file_io
from cmgan_tf.errors import InvalidInputError
from cmgan_tf.reports import write_evaluation_report
from cmgan_tf.retrieval.evaluation import evaluate_encoder, random_ranking_scores
from cmgan_tf.runs import model_dir as run_files
from cmgan_tf.runs.data import load_configured_dataset


def evaluate(
    model_dir,
    *,
    data_dir=None,
    dataset=None,
    exclude_query_from_gallery=True,
    plots=True,
    queries=None,
):
    """Scores a trained run on its dataset's test split and writes the scores.

    Args:
        model_dir: Directory written by `cmgan-train`.
        data_dir: Overrides the dataset location recorded in `config.json`.
        dataset: A `CrossModalDataset` to evaluate on instead of the one the
            run's configuration names.
        exclude_query_from_gallery: See `evaluate_encoder`. Defaults to `True`.
        plots: Also write the figures, retrieval grids and JSON of
            `reports.write_evaluation_report` to `<model_dir>/evaluation` and
            the projector run to `<model_dir>/logs/projector`. Defaults to
            `True`.
        queries: Test pair ids the retrieval grid shows, or `None` for a
            seeded draw. Defaults to `None`.

    Returns:
        `(scores, random_ranking)`: dicts of test scores of the encoder and of
        random rankings (the chance level), as written to `evaluation.json`.

    Raises:
        InvalidInputError: for `queries` without `plots`, and as
            `write_evaluation_report` for query ids the test split lacks.
    """
    if queries and not plots:
        raise InvalidInputError(
            "`queries` choose the rows of the retrieval grid, which only plots "
            f"draw. Received: queries={queries!r} with plots=False; drop one."
        )
    config, encoder = run_files.load_run(model_dir)
    if dataset is None:
        dataset = load_configured_dataset(config.data, data_dir)
    if plots:
        # Before the scores, so that a bad query id fails before anything is
        # written.
        write_evaluation_report(
            run_files.path(model_dir, run_files.EVALUATION_DIR),
            encoder,
            dataset,
            log_dir=run_files.path(model_dir, run_files.LOGS_DIR),
            history=run_files.training_history(model_dir),
            exclude_query_from_gallery=exclude_query_from_gallery,
            queries=queries,
        )
    scores = evaluate_encoder(
        encoder, dataset.test, exclude_query_from_gallery=exclude_query_from_gallery
    )
    chance = random_ranking_scores(
        dataset.test.labels, exclude_query_from_gallery=exclude_query_from_gallery
    )
    file_io.write_json_atomically(
        run_files.path(model_dir, run_files.EVALUATION_FILE),
        {
            "dataset": dataset.name,
            "split": "test",
            "scores": scores,
            "random_ranking": chance,
        },
    )
    return scores, chance
