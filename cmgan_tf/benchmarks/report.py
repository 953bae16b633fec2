"""Markdown tables of benchmark results."""

import statistics

from cmgan_tf.benchmarks.quality import DIRECTIONS, RECALL_K_VALUES


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |"]
    lines.append(
        "| "
        + " | ".join("---" if i == 0 else "---:" for i in range(len(header)))
        + " |"
    )
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _milliseconds(summary):
    return f"{summary['median']:.1f} ({summary['min']:.1f}–{summary['max']:.1f})"


def training_table(results):
    """Rows: configuration × XLA; step time over rounds, shares, peer ratio.

    Args:
        results: The training section's results: `summary` (from
            `training_speed.summarize`) and `loads` (the load average before
            and after each process).

    Returns:
        Markdown: the table, then the sgemm rate and the load averages.
    """
    summary = results["summary"]
    rows = []
    for entry in summary["configurations"]:
        configuration = entry["configuration"]
        peer = entry.get("peer_best")
        for mode, xla in (("noxla", "off"), ("xla", "on")):
            measured = entry[mode]
            share = measured["sgemm_share"]
            rows.append(
                (
                    configuration["name"],
                    configuration["batch_size"],
                    configuration["replicas"],
                    xla,
                    _milliseconds(measured["step_ms"]),
                    f"{measured['pairs_per_s']:.0f}",
                    f"{entry['xla_speedup']:.2f}×" if mode == "xla" else "",
                    f"{measured['step_gflops']:.2f}",
                    "" if share is None else f"{100 * share:.0f} %",
                    f"{_milliseconds(peer['step_ms'])}, {peer['variant']}"
                    if peer
                    else "",
                    f"{entry[f'ratio_{mode}']:.2f}×" if peer else "",
                )
            )
    lines = [
        "Each row is timed in fresh processes of its own, one per round, alternating "
        "with the rows it is compared with; the time is the median over rounds of "
        "each process's median epoch, with the range over rounds. The share of the "
        "sgemm bound is the step's matrix-product FLOPs (counted from the layer "
        "sizes by `cmgan_tf.benchmarks.flops`) per second, over TensorFlow's sgemm "
        "rate measured in the same rounds. The PyTorch peer "
        "(`torch_cmgan_step.py`) runs the reference step with the same sizes; its "
        "best variant of eager, fused Adam and fused Adam + torch.compile is shown.",
        "",
        _table(
            (
                "configuration",
                "batch",
                "replicas",
                "XLA",
                "ms/step, median (min–max)",
                "pairs/s",
                "XLA speed-up",
                "GFLOP/step",
                "share of sgemm bound",
                "PyTorch's best, ms/step",
                "ours ÷ PyTorch (pairs/s)",
            ),
            rows,
        ),
    ]
    sgemm = summary["sgemm_gflops"]
    if sgemm:
        lines += [
            "",
            f"sgemm 2048³ (TensorFlow, same rounds): {_milliseconds(sgemm)} GFLOP/s.",
        ]
    before = [load["load_before"] for load in results["loads"]]
    after = [load["load_after"] for load in results["loads"]]
    lines += [
        "",
        f"1-minute load average before each process {min(before):.2f}–"
        f"{max(before):.2f}, after {min(after):.2f}–{max(after):.2f} "
        f"({len(before)} processes).",
    ]
    return "\n".join(lines)


def latency_table(results):
    """Rows: model × modality × runtime; ms per query at batch 1 and batched."""
    rows = []
    for model_name, entries in results.items():
        for entry in entries:
            rows.append(
                (
                    model_name,
                    entry["modality"],
                    entry["runtime"],
                    f"{entry['single_ms']:.3f}",
                    f"{entry['batched_ms_per_query']:.3f}",
                    entry.get("size_kb", ""),
                )
            )
    return _table(
        (
            "model",
            "encoder",
            "runtime",
            "ms/query, batch 1",
            "ms/query, batched",
            "size (KiB)",
        ),
        rows,
    )


def retrieval_table(results):
    """Rows: gallery size; queries/s of TF, NumPy and the bandwidth bound."""
    rows = [
        (
            f"{r['gallery_size']:,}",
            f"{r['gallery_mb']:.0f}",
            f"{r['tensorflow_qps']:,.0f}",
            f"{r['numpy_qps']:,.0f}",
            f"{r['bound_qps']:,.0f}",
            f"{r['tensorflow_qps'] / r['bound_qps']:.2f}",
            "yes" if r["same_top_k"] else "no",
        )
        for r in results
    ]
    return _table(
        (
            "gallery",
            "MiB",
            "queries/s, TF (served graph)",
            "queries/s, NumPy",
            "queries/s, bandwidth bound",
            "TF / bound",
            "same top-10",
        ),
        rows,
    )


def quality_table(results):
    """Rows: each configuration and what it ranks, then the baselines.

    Args:
        results: The quality section's results: `cmgan`, rows of
            `configuration`, `ranks` and a `quality.cmgan_scores` summary;
            `baselines`, method name to `quality.ranking_scores`.
    """

    def recalls(scores, suffix=""):
        return [
            " / ".join(f"{scores[f'recall@{k}_{d}{suffix}']:.3f}" for d in DIRECTIONS)
            for k in RECALL_K_VALUES
        ]

    rows = []
    for row in results["cmgan"]:
        validation = (
            " / ".join(
                f"{statistics.fmean(row[f'validation_map_{d}']):.3f}"
                for d in DIRECTIONS
            )
            if "validation_map_image_to_text" in row
            else "(the run above)"
        )
        rows.append(
            (
                f"`{row['configuration']}`",
                row["ranks"],
                validation,
                *(
                    f"{row[f'map_{d}_mean']:.3f} ± {row[f'map_{d}_std']:.3f}"
                    for d in DIRECTIONS
                ),
                *recalls(row, "_mean"),
            )
        )
    for name, scores in results["baselines"].items():
        rows.append(
            (
                name,
                "",
                "",
                *(f"{scores[f'map_{d}']:.3f}" for d in DIRECTIONS),
                *recalls(scores),
            )
        )
    seeds = len(results["cmgan"][0]["map_image_to_text"])
    table = _table(
        (
            "configuration",
            "ranks",
            "validation MAP I→T / T→I",
            "test MAP I→T",
            "test MAP T→I",
            *(f"R@{k} I→T / T→I" for k in RECALL_K_VALUES),
        ),
        rows,
    )
    return (
        f"{table}\n\nTest MAP@all (class relevance): mean ± population standard "
        f"deviation over {seeds} seed(s); recall@k of the true partner (instance "
        "relevance) and the validation MAP of the epoch each run kept: means. "
        "Each run's epoch is chosen on its validation split, as `cmgan-train` "
        "does (with `--refit`, the model then trains again on the training and "
        "validation pairs for that many epochs, and the validation MAP is the "
        "run's that chose it); the test split is scored once, at the end. A row "
        '"(the run above)" ranks another representation of the same runs. CCA and '
        "semantic matching are fitted on the whole training split in the same "
        "run, with the `features` preset's feature transforms."
    )


def collection_tables(results):
    """cmgan-embed throughput and memory; search speed; TFLite retrieval."""
    embedding = _table(
        ("JPEG images + captions", "images/s", "captions/s", "peak memory (MiB)"),
        [
            (
                f"{r['items']:,}",
                f"{r['images_per_s']:.0f}",
                f"{r['captions_per_s']:.0f}",
                f"{r['peak_rss_mb']:.0f}",
            )
            for r in results["embedding"]
        ],
    )
    search = _table(
        (
            "gallery",
            "queries/s, exact",
            "queries/s, faiss IVF",
            "faiss recall@10",
            "nlist / nprobe",
            "faiss build (s)",
        ),
        [
            (
                f"{r['gallery_size']:,}",
                f"{r['exact_qps']:,.0f}",
                f"{r['faiss_qps']:,.0f}",
                f"{r['faiss_recall_at_10']:.3f}",
                f"{r['faiss_nlist']} / {r['faiss_nprobe']}",
                f"{r['faiss_build_s']:.1f}",
            )
            for r in results["search"]
        ],
    )
    tflite = results["tflite_retrieval"]
    return (
        f"{embedding}\n\n{search}\n\nTFLite `retrieve_with_text` with "
        f"{tflite['gallery_size']:,} items inside ({tflite['model_kb']:.0f} KiB), "
        f"one thread: {tflite['single_ms']:.2f} ms per query."
    )


def streaming_table(results):
    """Peak memory of one training epoch on image files, per collection size."""
    table = _table(
        ("JPEG images", "steps", "peak memory (MiB)", "seconds"),
        [
            (
                f"{r['images']:,}",
                r["steps"],
                f"{r['peak_rss_mb']:.0f}",
                f"{r['seconds']:.0f}",
            )
            for r in results
        ],
    )
    return (
        "`cmgan-train --dataset=image_captions`, one epoch in a process of its "
        "own, the images streamed from their files; validation kept at 200 "
        f"pairs.\n\n{table}"
    )
