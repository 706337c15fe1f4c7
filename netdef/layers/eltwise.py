"""Layer specs: eltwise family."""
