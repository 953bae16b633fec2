"""Exporting trained encoders: SavedModels for TensorFlow Serving, TFLite files."""
