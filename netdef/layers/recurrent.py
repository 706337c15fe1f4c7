"""Layer specs: recurrent family."""
