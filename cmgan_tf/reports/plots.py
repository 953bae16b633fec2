"""Figures of an evaluation: precision-recall, precision@k, per-class AP, history.

Each function draws one figure from JSON-ready data (a
`retrieval.evaluation.retrieval_report`, the `history` of `metrics.json`) and
returns it; `save_png` writes it. Figures are `matplotlib.figure.Figure`
objects drawn on the Agg canvas: no pyplot, no global backend and no display
are involved, so they render the same on a headless machine.
"""

import io

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from cmgan_tf import file_io

DPI = 100

DIRECTION_LABELS = {
    "image_to_text": "Image → Text",
    "text_to_image": "Text → Image",
    "image_to_all": "Image → All",
    "text_to_all": "Text → All",
}
CROSS_MODAL = ("image_to_text", "text_to_image")
_COLOURS = {
    "image_to_text": "tab:blue",
    "text_to_image": "tab:orange",
    "image_to_all": "tab:green",
    "text_to_all": "tab:purple",
}


def new_figure(width, height):
    """Returns a `Figure` of `width` x `height` inches on an Agg canvas.

    Args:
        width: Inches; the PNG is `width * DPI` pixels wide.
        height: Inches.
    """
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save_png(figure, path):
    """Writes `figure` as a PNG of its stated size to `path` (any gfile path).

    Returns:
        `(width, height)` of the PNG in pixels.
    """
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    file_io.write_bytes_atomically(path, buffer.getvalue())
    width, height = figure.get_size_inches() * DPI
    return int(round(width)), int(round(height))


def _legend_below(figure, ncols=2):
    # Below the axes, where no curve or bar can hide behind it.
    figure.legend(loc="outside lower center", ncols=ncols, fontsize="small")


def precision_recall_figure(report, chance):
    """Interpolated precision-recall curves of Image→Text and Text→Image.

    Args:
        report: Dict from `retrieval_report` of the model.
        chance: Dict from `retrieval_report` of random embeddings, drawn
            dashed for scale.

    Returns:
        A 640 x 480 pixel `Figure`.
    """
    figure = new_figure(6.4, 4.8)
    axes = figure.add_subplot()
    for direction in CROSS_MODAL:
        for scores, style, source in ((report, "-", "model"), (chance, "--", "random")):
            curve = scores[direction]["precision_recall"]
            axes.plot(
                curve["recall"],
                curve["precision"],
                style,
                color=_COLOURS[direction],
                label=f"{DIRECTION_LABELS[direction]}, {source} "
                f"(MAP {scores[direction]['map']:.3f})",
            )
    axes.set(
        xlabel="Recall",
        ylabel="Interpolated precision",
        xlim=(0, 1),
        ylim=(0, 1.02),
        title="Precision-recall on the test split",
    )
    axes.grid(alpha=0.3)
    _legend_below(figure)
    return figure


def precision_at_k_figure(report, chance):
    """Precision@k against k for the four directions.

    Args:
        report: Dict from `retrieval_report` of the model.
        chance: Dict from `retrieval_report` of random embeddings; its
            Image→Text curve is drawn dashed for scale.

    Returns:
        A 640 x 480 pixel `Figure`.
    """
    figure = new_figure(6.4, 4.8)
    axes = figure.add_subplot()
    for direction, label in DIRECTION_LABELS.items():
        curve = report[direction]["precision_at_k"]
        axes.plot(
            curve["k"], curve["precision"], color=_COLOURS[direction], label=label
        )
    curve = chance["image_to_text"]["precision_at_k"]
    axes.plot(
        curve["k"], curve["precision"], "--", color="grey", label="Random ranking"
    )
    axes.set_xscale("log")
    axes.set(
        xlabel="k (items retrieved, log scale)",
        ylabel="Precision@k",
        ylim=(0, 1.02),
        title="Precision@k on the test split",
    )
    axes.grid(alpha=0.3, which="both")
    _legend_below(figure, ncols=3)
    return figure


def per_class_figure(report, class_names):
    """Per-class AP of Image→Text and Text→Image as bars, weakest class on top.

    Args:
        report: Dict from `retrieval_report`.
        class_names: One name per label column.

    Returns:
        A `Figure` 640 pixels wide and 30 pixels high per class with
        queries, plus 120 (at least 300 in all).
    """
    per_direction = [
        report[direction]["per_class"]["average_precision"] for direction in CROSS_MODAL
    ]
    # Both items of a pair carry its labels, so a class has queries in both
    # directions or in neither; a class without queries has no AP to draw.
    shown = [c for c, value in enumerate(per_direction[0]) if value is not None]
    ap = np.array([[values[c] for c in shown] for values in per_direction])
    # Weakest first, so that barh (which draws upwards) puts it on top.
    order = np.argsort(-ap.mean(axis=0))
    positions = np.arange(len(order))
    figure = new_figure(6.4, max(3.0, 0.3 * len(order) + 1.2))
    axes = figure.add_subplot()
    height = 0.4
    for offset, direction, values in zip(
        (height / 2, -height / 2), CROSS_MODAL, ap, strict=True
    ):
        axes.barh(
            positions + offset,
            values[order],
            height=height,
            color=_COLOURS[direction],
            label=f"{DIRECTION_LABELS[direction]} (MAP {report[direction]['map']:.3f})",
        )
    labels = [class_names[shown[i]] for i in order]
    axes.set_yticks(positions, labels, fontsize="small")
    axes.set(xlabel="Average precision", xlim=(0, 1), title="AP per query class")
    axes.grid(alpha=0.3, axis="x")
    _legend_below(figure)
    return figure


def history_figure(history):
    """Every loss term and validation MAP per epoch of a training run.

    Args:
        history: Dict from metric name to its per-epoch values, as in the
            `history` of `metrics.json`: names ending in `_loss` are loss
            terms (`d_` discriminator, `g_` generator), `val_map_` validation
            MAP.

    Returns:
        A 1500 x 450 pixel `Figure` of three panels: discriminator losses,
        generator losses, validation MAP.
    """
    figure = new_figure(15.0, 4.5)
    panels = (
        ("Discriminator losses", "Loss", lambda n: n.startswith("d_")),
        ("Generator losses", "Loss", lambda n: n.startswith("g_")),
        ("Validation MAP", "MAP@all", lambda n: n.startswith("val_map_")),
    )
    for axes, (title, ylabel, wanted) in zip(
        figure.subplots(1, 3), panels, strict=True
    ):
        for name, values in sorted(history.items()):
            if not wanted(name) or not (name.endswith("_loss") or "map" in name):
                continue
            epochs = np.arange(1, len(values) + 1)
            axes.plot(epochs, values, marker="o", markersize=3, label=name)
        axes.set(xlabel="Epoch", ylabel=ylabel, title=title)
        axes.grid(alpha=0.3)
        if axes.lines:
            axes.legend(fontsize="x-small")
    return figure
