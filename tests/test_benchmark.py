"""The benchmark script at toy sizes, and the pure parts of its methodology."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from cmgan_tf.benchmarks import quality, report, runner, training_speed
from cmgan_tf.benchmarks.flops import training_step_flops
from cmgan_tf.config import ExperimentConfig, LossConfig, ModelConfig, TrainingConfig
from cmgan_tf.errors import InvalidInputError
from pipelines import benchmark

# Stands in for torch_cmgan_step.py: same arguments, same JSON line, and a
# step time that depends on the Adam variant, so the best one is known.
FAKE_PEER = textwrap.dedent(
    """
    import argparse, json
    ap = argparse.ArgumentParser()
    for name in ("img_dim", "txt_dim", "num_classes", "batch", "steps", "warmup",
                 "repeats"):
        ap.add_argument("--" + name, type=int)
    ap.add_argument("--adam")
    ap.add_argument("--compile", action="store_true")
    args = ap.parse_args()
    line = {"adam": args.adam, "batch": args.batch, "img_dim": args.img_dim,
            "eager": {"ms_per_step": 40.0 if args.adam == "fused" else 50.0}}
    if args.compile:
        line["compiled"] = {"ms_per_step": 20.0}
    print("compiling...")
    print(json.dumps(line))
    """
)


def _run_benchmark(*flags):
    return subprocess.run(
        [sys.executable, "-m", "pipelines.benchmark", *flags],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )


def _smoke_benchmark(tmp_path, sections):
    """Runs `--smoke` on `sections`; returns `(sections' results, markdown)`."""
    markdown = tmp_path / "BENCHMARKS.md"
    peer = tmp_path / "peer.py"
    peer.write_text(FAKE_PEER)
    result = _run_benchmark(
        "--smoke",
        "--allow_busy",
        # Any load is "busy" here, so the flag and its note are exercised.
        "--max_load=-1",
        "--rounds=1",
        f"--sections={','.join(sections)}",
        f"--peer_python={sys.executable}",
        f"--peer_script={peer}",
        f"--results_dir={tmp_path}",
        f"--markdown={markdown}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["load"]["busy"]
    assert list(results["sections"]) == list(sections)
    text = markdown.read_text()
    assert text in result.stdout
    assert "**Taken on a busy machine**" in text
    return {name: s["results"] for name, s in results["sections"].items()}, text


# The smoke run is split by section into classes: pytest-xdist's `loadscope`
# gives each class to one worker, so the three runs spread over the workers
# instead of holding one for minutes.
SMOKE_GROUPS = (
    ("training",),
    ("quality", "retrieval"),
    ("latency", "collection", "streaming"),
)


def test_the_smoke_runs_cover_every_section():
    assert sorted(sum(SMOKE_GROUPS, ())) == sorted(benchmark.SECTIONS)


class TestSmokeTraining:
    @pytest.mark.slow
    def test_timed_training_runs_and_the_peer_comparison(self, tmp_path):
        sections, text = _smoke_benchmark(tmp_path, SMOKE_GROUPS[0])
        training = sections["training"]
        runs = training["runs"]
        assert set(runs) == {
            training_speed.configuration_key(c)
            for c in training_speed.SMOKE_CONFIGURATIONS
        }
        assert "smoke/synthetic_64x16/batch_32/replicas_2/mixed_float16" in runs
        for key, record in runs.items():
            replicas = int(key.split("/replicas_")[1].split("/")[0])
            for run in record["xla"] + record["noxla"]:
                assert run["replicas"] == replicas
                # Only a two-replica process splits the CPU.
                assert run["logical_cpus"] == replicas
                assert run["step_ms"] > 0 and run["load_before"] >= 0
        assert training["sgemm"][0]["logical_cpus"] == 1
        assert training["sgemm"][0]["flops_per_s"] > 0
        peered = [s for s in training["summary"]["configurations"] if "peer_best" in s]
        assert len(peered) == 1
        assert peered[0]["peer_best"]["variant"] == "fused Adam + torch.compile"
        assert peered[0]["ratio_xla"] == pytest.approx(
            peered[0]["xla"]["pairs_per_s"] / (1000 * 32 / 20.0)
        )
        assert f"| {peered[0]['ratio_xla']:.2f}× |" in text


class TestSmokeQualityAndRetrieval:
    @pytest.mark.slow
    def test_quality_against_baselines_and_exact_search(self, tmp_path):
        sections, text = _smoke_benchmark(tmp_path, SMOKE_GROUPS[1])
        quality = sections["quality"]
        rows = {(r["configuration"], r["ranks"]): r for r in quality["cmgan"]}
        smoke = "--epochs=3 {}--nojit_compile"
        features = "--preset=features " + smoke
        wikipedia = "--preset=wikipedia " + smoke.format("")
        # The preset (an ensemble, of two here), one member alone without
        # --refit and each mixed precision of it, each `features` run also
        # ranked by either part of its representation, and the `wikipedia`
        # preset's common representation beside its class probabilities.
        single = "--ensemble_size=1 --norefit "
        features_runs = [
            features.format("--ensemble_size=2 "),
            features.format(single),
            features.format(single + "--mixed_precision=mixed_bfloat16 "),
            features.format(single + "--mixed_precision=mixed_float16 "),
        ]
        assert set(rows) == {
            *(
                (run, ranks)
                for run in features_runs
                for ranks in (
                    "standardized_common_and_classes",
                    "standardized_common",
                    "class_probabilities",
                )
            ),
            (wikipedia, "class_probabilities"),
            (wikipedia, "standardized_common"),
        }
        # Ten classes: every method must beat random rankings (about 0.12),
        # and find partners above chance (recall@10 of 10/693 = 0.014).
        methods = [*rows.values(), *quality["baselines"].values()]
        for scores in methods:
            mean = "_mean" if "map_image_to_text_mean" in scores else ""
            assert scores[f"map_image_to_text{mean}"] > 0.15
            assert scores[f"recall@10_image_to_text{mean}"] > 0.014
            assert (
                scores[f"recall@1_image_to_text{mean}"]
                <= scores[f"recall@5_image_to_text{mean}"]
                <= scores[f"recall@10_image_to_text{mean}"]
            )
        assert (
            "validation_map_text_to_image" not in rows[wikipedia, "standardized_common"]
        )
        ensemble = rows[features_runs[0], "standardized_common_and_classes"]
        assert [len(epochs) for epochs in ensemble["best_epoch"]] == [2]
        cca = quality["baselines"]["CCA"]
        assert f"| {cca['map_text_to_image']:.3f} |" in text
        assert f"`{wikipedia}` | class_probabilities |" in text
        for row in sections["retrieval"]:
            assert row["same_top_k"]
            assert row["bound_qps"] > 0


class TestSmokeServingAndCollections:
    @pytest.mark.slow
    def test_latency_collection_and_streaming(self, tmp_path):
        sections, _ = _smoke_benchmark(tmp_path, SMOKE_GROUPS[2])
        for entry in sections["latency"]["shapes (pixels, captions)"]:
            assert 0 < entry["batched_ms_per_query"] and 0 < entry["single_ms"]
        collection = sections["collection"]
        assert [r["items"] for r in collection["embedding"]] == [32, 64]
        assert all(
            r["images_per_s"] > 0 and r["peak_rss_mb"] > 0
            for r in collection["embedding"]
        )
        for row in collection["search"]:
            assert 0.5 < row["faiss_recall_at_10"] <= 1.0 and row["exact_qps"] > 0
        assert collection["tflite_retrieval"]["single_ms"] > 0
        streaming = sections["streaming"]
        assert [r["images"] for r in streaming] == [300, 600]
        assert all(r["peak_rss_mb"] > 0 and r["steps"] > 0 for r in streaming)


def test_busy_machine_refuses_the_run_in_one_line(tmp_path):
    result = _run_benchmark("--max_load=-1", f"--results_dir={tmp_path}")
    assert result.returncode != 0
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("benchmark: error: the machine is busy")
    assert "--allow_busy" in error
    assert not (tmp_path / "results.json").exists()


def test_check_idle_refuses_flags_or_passes_by_the_load_read():
    with pytest.raises(InvalidInputError, match=r"load average is 1\.50.*--allow_busy"):
        runner.check_idle(0.5, allow_busy=False, read_load=lambda: 1.5)
    assert runner.check_idle(0.5, allow_busy=True, read_load=lambda: 1.5) == {
        "load_before": 1.5,
        "busy": True,
    }
    assert runner.check_idle(0.5, allow_busy=False, read_load=lambda: 0.2) == {
        "load_before": 0.2,
        "busy": False,
    }


def test_alternated_runs_compared_runs_next_to_each_other_each_round():
    order = runner.alternated([("a", "b"), ("c",)], 3)
    assert order == [
        (0, "a"),
        (0, "b"),
        (0, "c"),
        (1, "a"),
        (1, "b"),
        (1, "c"),
        (2, "a"),
        (2, "b"),
        (2, "c"),
    ]
    with pytest.raises(InvalidInputError, match="rounds=0"):
        runner.alternated([("a", "b")], 0)


def test_spread_is_median_and_range():
    assert runner.spread([5.0, 1.0, 4.0, 2.0]) == {
        "median": 3.0,
        "min": 1.0,
        "max": 5.0,
        "n": 4,
    }


def test_run_json_process_reads_the_last_json_line_and_the_loads():
    loads = iter([0.25, 0.75])
    record = runner.run_json_process(
        [sys.executable, "-c", "print('{\"a\": 1}'); print('x'); print('{\"a\": 2}')"],
        read_load=lambda: next(loads),
    )
    assert record == {"a": 2, "load_before": 0.25, "load_after": 0.75}
    with pytest.raises(RuntimeError, match="exit code 3"):
        runner.run_json_process([sys.executable, "-c", "exit(3)"])


def _tiny_config(generator_steps):
    return ExperimentConfig(
        model=ModelConfig(
            encoder_units=(4,),
            common_units=(3,),
            decoder_units=(),
            intra_discriminator_units=(),
            inter_discriminator_units=(2,),
        ),
        training=TrainingConfig(generator_steps=generator_steps),
    )


def test_training_step_flops_match_a_count_by_hand():
    # Batch 1, image 5-d, text 2-d, 2 classes; a Dense a->b on r rows costs
    # 2rab forward, as much for its weight and as much for its input gradient.
    # Discriminator update:
    #   encoders forward: image 5->4->3 = 2(20+12) = 64, text 2->4->3 = 40;
    #   decoders forward (the intra game reads them): 3->5 = 30, 3->2 = 12;
    #   intra D on 2 rows, forward + weights (no input gradient into its only
    #   layer): image 2*2*5 = 20 -> 40, text 2*2*2 = 8 -> 16;
    #   inter D on 3 rows, forward + weights + input gradient of its second
    #   layer: image (3+5)->2->1 = 2*3*(16+2) = 108 -> 3*108 - 96 = 228,
    #   text (3+2)->2->1 = 72 -> 3*72 - 60 = 156.
    #   Total 104 + 42 + 56 + 384 = 586.
    # Generator update:
    #   encoders, all three but the first layer's input gradient:
    #   3*64 - 40 = 152, 3*40 - 16 = 104; decoders 3*(30+12) = 126;
    #   intra D forward + input gradient 2*(10+4) = 28;
    #   inter D on 1 row, forward + input gradient 2*(36+24) = 120;
    #   classifiers 3->2 on both modalities 2*3*12 = 72.
    #   Total 602.
    assert training_step_flops(_tiny_config(1), 5, 2, 2, 1) == 586 + 602
    assert training_step_flops(_tiny_config(3), 5, 2, 2, 1) == 586 + 3 * 602
    # Linear in the batch.
    assert training_step_flops(_tiny_config(1), 5, 2, 2, 8) == 8 * (586 + 602)


def test_training_step_flops_drop_the_games_that_are_not_played():
    config = _tiny_config(1).replace(
        loss={"intra_adversarial_weight": 0.0, "inter_adversarial_weight": 0.0}
    )
    # No discriminator update; the generator update keeps the encoders (152 +
    # 104) and classifiers (72); no loss reads the decoders.
    assert training_step_flops(config, 5, 2, 2, 1) == 152 + 104 + 72
    assert LossConfig().reconstruction_weight == 0.0


def _run(step_ms, flops=10**9):
    return {"step_ms": step_ms, "pairs_per_s": 0.0, "step_flops": flops}


def test_summarize_takes_medians_speedups_shares_and_the_peer_ratio():
    configuration = dict(training_speed.CONFIGURATIONS[3])
    key = training_speed.configuration_key(configuration)
    peer_line = {"adam": "default", "batch": 64, "eager": {"ms_per_step": 40.0}}
    fused_line = {
        "adam": "fused",
        "batch": 64,
        "eager": {"ms_per_step": 30.0},
        "compiled": {"ms_per_step": 35.0},
    }
    records = {
        key: {
            "xla": [_run(20.0), _run(10.0), _run(12.0)],
            "noxla": [_run(30.0), _run(24.0), _run(40.0)],
            "peer": [
                peer_line,
                fused_line,
                dict(fused_line, eager={"ms_per_step": 34.0}),
            ],
        }
    }
    summary = training_speed.summarize(
        [configuration], records, [{"flops_per_s": 2e11}, {"flops_per_s": 1e11}]
    )
    assert summary["sgemm_gflops"]["median"] == pytest.approx(150.0)
    entry = summary["configurations"][0]
    assert entry["xla"]["step_ms"] == {"median": 12.0, "min": 10.0, "max": 20.0, "n": 3}
    assert entry["xla_speedup"] == pytest.approx(30.0 / 12.0)
    # 1 GFLOP in 12 ms is 83.3 GFLOP/s, of a 150 GFLOP/s bound.
    assert entry["xla"]["sgemm_share"] == pytest.approx(1e9 / 0.012 / 1.5e11)
    assert set(entry["peer"]) == {"eager", "fused Adam", "fused Adam + torch.compile"}
    # Fused eager: median of 30 and 34 ms, the best variant.
    assert entry["peer_best"]["variant"] == "fused Adam"
    assert entry["peer_best"]["pairs_per_s"] == pytest.approx(64 / 0.032)
    assert entry["ratio_xla"] == pytest.approx((64 / 0.012) / (64 / 0.032))
    assert entry["ratio_noxla"] == pytest.approx(32.0 / 30.0)

    table = report.training_table(
        {"summary": summary, "loads": [{"load_before": 0.1, "load_after": 1.9}]}
    )
    assert "| 12.0 (10.0–20.0) |" in table
    assert "| 2.50× |" in table
    assert "| 2.67× |" in table
    assert "32.0 (30.0–34.0), fused Adam |" in table
    assert "150.0 (100.0–200.0) GFLOP/s" in table
    assert "before each process 0.10–0.10, after 1.90–1.90" in table


def test_quality_scores_rank_partners_and_classes():
    # Pairs 0 and 1 share class 0 and point the same way; pair 2 (class 1)
    # points elsewhere. Each image's nearest text is its own partner.
    images = np.array([[1.0, 0.1, 0.0], [1.0, -0.1, 0.0], [0.0, 0.0, 1.0]])
    texts = images + np.array([[0.0, 0.05, 0.0], [0.0, -0.05, 0.0], [0.0, 0.0, 0.0]])
    scores = quality.ranking_scores(images, texts, np.array([0, 0, 1]))
    assert scores["map_image_to_text"] == scores["map_text_to_image"] == 1.0
    assert scores["recall@1_image_to_text"] == scores["recall@1_text_to_image"] == 1.0
    # Swapping the two class-0 texts keeps every class right and every
    # partner second.
    swapped = quality.ranking_scores(images, texts[[1, 0, 2]], np.array([0, 0, 1]))
    assert swapped["map_image_to_text"] == 1.0
    assert swapped["recall@1_image_to_text"] == pytest.approx(1 / 3)
    assert swapped["recall@5_image_to_text"] == 1.0


def test_quality_table_shows_each_representation_and_the_baselines():
    def scores(value, suffix=""):
        return {
            f"{name}_{d}{suffix}": value
            for d in ("image_to_text", "text_to_image")
            for name in ("map", "recall@1", "recall@5", "recall@10")
        }

    run = {**scores(0.3, "_mean"), **scores(0.01, "_std"), "map_image_to_text": [0.3]}
    results = {
        "cmgan": [
            {
                "configuration": "--preset=wikipedia",
                "ranks": "class_probabilities",
                "validation_map_image_to_text": [0.31],
                "validation_map_text_to_image": [0.22],
                **run,
            },
            {"configuration": "--preset=wikipedia", "ranks": "common", **run},
        ],
        "baselines": {"CCA": scores(0.2)},
    }
    lines = report.quality_table(results).splitlines()
    assert lines[2] == (
        "| `--preset=wikipedia` | class_probabilities | 0.310 / 0.220 | "
        "0.300 ± 0.010 | 0.300 ± 0.010 | 0.300 / 0.300 | 0.300 / 0.300 | "
        "0.300 / 0.300 |"
    )
    assert lines[3].startswith("| `--preset=wikipedia` | common | (the run above) |")
    assert lines[4] == (
        "| CCA |  |  | 0.200 | 0.200 | 0.200 / 0.200 | 0.200 / 0.200 | 0.200 / 0.200 |"
    )
    assert "over 1 seed(s)" in lines[-1]
