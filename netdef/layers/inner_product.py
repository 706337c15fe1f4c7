"""Layer specs: inner_product family."""
