"""Layer specs: softmax family."""
