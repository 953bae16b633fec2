"""Exact top-k retrieval over large galleries, against simple bounds.

Three ways of answering the same queries are timed side by side: the
TensorFlow graph that the exported `retrieve_with_*` signatures run
(`tf.matmul` + `tf.math.top_k`), a plain NumPy matmul + argpartition
(`top_k_search`), and the memory-bandwidth bound: a batch of queries must at
least read the whole gallery once.
"""

import numpy as np
import tensorflow as tf

from cmgan_tf.benchmarks.timing import median_seconds
from cmgan_tf.retrieval.search import top_k_search


def unit_vectors(count, dim, seed):
    """Returns `(count, dim)` float32 random unit vectors."""
    vectors = np.random.default_rng(seed).standard_normal((count, dim), np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def copy_bandwidth(num_bytes=256 * 2**20, repeats=5):
    """Measures memory bandwidth, bytes read plus written per second, by a copy.

    Args:
        num_bytes: Size of the copied buffer; larger than the caches.
        repeats: Timed copies; the median is returned.
    """
    source = np.ones(num_bytes // 4, np.float32)
    target = np.empty_like(source)
    timing = median_seconds(lambda: np.copyto(target, source), repeats=repeats)
    return 2 * num_bytes / timing["median_s"]


def measure_retrieval(gallery_size, dim, *, num_queries=64, k=10, repeats=5):
    """Times exact top-`k` search of `num_queries` queries in one batch.

    Args:
        gallery_size: Items in the gallery.
        dim: Size of the representations.
        num_queries: Queries answered per call.
        k: Items returned per query.
        repeats: Timed calls; medians are reported.

    Returns:
        Dict with `tensorflow_qps`, `numpy_qps`, `bound_qps` (queries per
        second if the gallery were read once per batch at copy bandwidth),
        and whether TF and NumPy returned the same items (`same_top_k`).
    """
    gallery = unit_vectors(gallery_size, dim, seed=1)
    queries = unit_vectors(num_queries, dim, seed=2)
    gallery_tensor = tf.constant(gallery)

    @tf.function(jit_compile=False)
    def tensorflow_top_k(batch):
        similarity = tf.matmul(batch, gallery_tensor, transpose_b=True)
        return tf.math.top_k(similarity, k=k)

    query_tensor = tf.constant(queries)
    tf_result = tensorflow_top_k(query_tensor)
    tf_time = median_seconds(
        lambda: tensorflow_top_k(query_tensor).indices.numpy(), repeats=repeats
    )
    np_indices, _ = top_k_search(queries, gallery, k, block_size=num_queries)
    np_time = median_seconds(
        lambda: top_k_search(queries, gallery, k, block_size=num_queries),
        repeats=repeats,
        warmup=0,
    )
    bandwidth = copy_bandwidth()
    # A copy moves each byte twice (read and write); a search reads once.
    bound_seconds = gallery.nbytes / (bandwidth / 2)
    return {
        "gallery_size": gallery_size,
        "dim": dim,
        "gallery_mb": gallery.nbytes / 2**20,
        "tensorflow_qps": num_queries / tf_time["median_s"],
        "numpy_qps": num_queries / np_time["median_s"],
        "bound_qps": num_queries / bound_seconds,
        "copy_bandwidth_gb_s": bandwidth / 1e9,
        "same_top_k": bool(
            (np.sort(tf_result.indices.numpy(), 1) == np.sort(np_indices, 1)).all()
        ),
    }
