"""Training side: corpus loaders, speaker-independent splits, model training."""
