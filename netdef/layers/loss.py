"""Layer specs: loss family."""
