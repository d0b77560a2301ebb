"""The fit engine: how Keras' ``fit`` is driven and controlled."""
