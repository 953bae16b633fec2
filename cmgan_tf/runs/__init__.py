"""What each command does, in small named steps: train, evaluate, export a run."""
