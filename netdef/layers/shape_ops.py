"""Layer specs: shape_ops family."""
