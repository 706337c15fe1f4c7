"""Layer specs: misc family."""
