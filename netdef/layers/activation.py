"""Layer specs: activation family."""
