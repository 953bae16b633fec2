"""Markdown tables of benchmark results."""


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |"]
    lines.append(
        "| "
        + " | ".join("---" if i == 0 else "---:" for i in range(len(header)))
        + " |"
    )
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def training_table(results):
    """Rows: configuration × XLA × replicas; steps/s, pairs/s and XLA speed-up."""
    rows = []
    for name, runs in results.items():
        for replicas in sorted({r["replicas"] for r in runs.values()}):
            on = runs[f"xla_{replicas}"]
            off = runs[f"noxla_{replicas}"]
            rows.append(
                (
                    name,
                    replicas,
                    f"{off['steps_per_s']:.1f}",
                    f"{on['steps_per_s']:.1f}",
                    f"{on['pairs_per_s']:.0f}",
                    f"{on['steps_per_s'] / off['steps_per_s']:.2f}×",
                )
            )
    return _table(
        (
            "configuration",
            "replicas",
            "steps/s, XLA off",
            "steps/s, XLA on",
            "pairs/s, XLA on",
            "XLA speed-up",
        ),
        rows,
    )


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
    """Rows: method or ablation; test MAP I→T and T→I (mean ± std over seeds)."""
    rows = []
    for name, scores in results.items():
        if "map_image_to_text_mean" in scores:
            cells = [
                f"{scores[f'{key}_mean']:.3f} ± {scores[f'{key}_std']:.3f}"
                for key in ("map_image_to_text", "map_text_to_image")
            ]
        else:
            cells = [
                f"{scores[key]:.3f}"
                for key in ("map_image_to_text", "map_text_to_image")
            ]
        rows.append((name, *cells))
    return _table(("method", "MAP I→T", "MAP T→I"), rows)


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
