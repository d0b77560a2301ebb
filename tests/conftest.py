"""Test set-up: quiet TensorFlow, one thread pool per xdist worker."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
