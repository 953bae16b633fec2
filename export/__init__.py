"""Command lines that export trained runs (see `cmgan_tf.serving`)."""
