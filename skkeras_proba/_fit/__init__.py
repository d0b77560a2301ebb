"""The fit engine: how a compiled Keras model is trained on arrays."""
