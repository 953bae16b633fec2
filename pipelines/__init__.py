"""absl-flags command lines: cmgan-train, cmgan-evaluate."""
