"""``make demo``: the gallery's logits example, run in a terminal.

Runs ``plot_logits_vs_scikeras.py`` -- a network whose last layer outputs
logits, trained on scikit-learn's breast-cancer data through
``skkeras_proba.KerasClassifier`` and through scikeras, the two
``predict_proba`` compared, then temperature-calibrated -- and prints what it
prints. Its figure opens in a window where matplotlib has a display, and is
skipped where it has none. The documentation's example gallery runs the same
script (``make docs``); this file is not part of it.
"""

import contextlib
import os
import runpy
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow loads
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

EXAMPLE = Path(__file__).with_name("plot_logits_vs_scikeras.py")


@contextlib.contextmanager
def quiet_stderr():
    """Hide what TensorFlow's C++ runtime prints while it loads (absl, CUDA probe).

    Those lines are written to file descriptor 2 directly, before
    ``TF_CPP_MIN_LOG_LEVEL`` is read, so ``sys.stderr`` cannot catch them.
    An import error is still shown: it is raised after stderr is restored.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def main():
    # Imported here so that the backend loads while its start-up lines are hidden.
    with quiet_stderr():
        import keras  # noqa: F401
        import matplotlib.pyplot as plt
        import scikeras.wrappers  # noqa: F401
    print(f"Running {EXAMPLE.name} (also in the documentation's example gallery)")
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    plt.show()  # a window where there is a display; nothing where there is none


if __name__ == "__main__":
    main()
