"""Layer specs: pool family."""
