"""The benchmark script at toy sizes: it runs, and its tables hold its figures."""

import json
import os
import subprocess
import sys


def test_smoke_benchmark_writes_results_and_tables(tmp_path):
    markdown = tmp_path / "BENCHMARKS.md"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines.benchmark",
            "--smoke",
            f"--results_dir={tmp_path}",
            f"--markdown={markdown}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    sections = results["sections"]
    assert set(sections) == {
        "training",
        "latency",
        "retrieval",
        "quality",
        "collection",
    }

    training = sections["training"]["results"]["smoke"]
    assert {r["replicas"] for r in training.values()} == {1, 2}
    assert all(r["steps_per_s"] > 0 for r in training.values())

    for entry in sections["latency"]["results"]["shapes (pixels, captions)"]:
        assert 0 < entry["batched_ms_per_query"] and 0 < entry["single_ms"]

    for row in sections["retrieval"]["results"]:
        assert row["same_top_k"]
        assert row["bound_qps"] > 0

    quality = sections["quality"]["results"]
    # Ten classes: every method must beat random rankings (about 0.12).
    assert quality["CM-GAN full"]["map_image_to_text_mean"] > 0.15
    assert quality["CCA"]["map_image_to_text"] > 0.15
    assert quality["Semantic matching"]["map_image_to_text"] > 0.15

    collection = sections["collection"]["results"]
    assert [r["items"] for r in collection["embedding"]] == [32, 64]
    assert all(
        r["images_per_s"] > 0 and r["peak_rss_mb"] > 0 for r in collection["embedding"]
    )
    for row in collection["search"]:
        assert 0.5 < row["faiss_recall_at_10"] <= 1.0 and row["exact_qps"] > 0
    assert collection["tflite_retrieval"]["single_ms"] > 0

    text = markdown.read_text()
    assert text in result.stdout
    assert f"| {training['xla_1']['steps_per_s']:.1f} |" in text
    assert f"| {quality['CCA']['map_text_to_image']:.3f} |" in text
