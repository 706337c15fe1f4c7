"""Layer specs: norm family."""
