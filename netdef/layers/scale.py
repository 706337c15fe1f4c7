"""Layer specs: scale family."""
