"""The adversarial game: losses, the CMGAN model, and builders from a config."""
