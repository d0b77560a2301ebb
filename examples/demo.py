"""A Keras model that outputs logits, as a scikit-learn classifier.

Run with ``make demo``. Trains a small network whose last layer has no
activation (it emits logits, trained with ``from_logits=True``) on scikit-learn's
breast-cancer data, then shows that

1. ``skkeras_proba.KerasClassifier`` detects the logits head and returns
   probabilities from ``predict_proba``,
2. the fitted pipeline can be temperature-calibrated by scikit-learn, and
3. scikeras' ``KerasClassifier`` returns the raw scores of the same model
   from ``predict_proba``, which are not probabilities.
"""

import contextlib
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow loads
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


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


START = time.perf_counter()
with quiet_stderr():
    import keras
    import numpy as np
    from scikeras.wrappers import KerasClassifier as ScikerasClassifier
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.datasets import load_breast_cancer
    from sklearn.frozen import FrozenEstimator
    from sklearn.metrics import accuracy_score, brier_score_loss, log_loss
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skkeras_proba import KerasClassifier

EPOCHS = 60  # long enough for the network to become over-confident
SEED = 0


def build_logits_model(meta):
    """Dense(1) without activation: one log-odds score per sample."""
    model = keras.Sequential(
        [
            keras.Input((meta["n_features_in_"],)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(1),  # no activation: logits
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
    )
    return model


def section(title):
    print(f"\n{title}\n{'-' * len(title)}")


def show(rows):
    print("  " + np.array2string(rows, precision=4, suppress_small=True, prefix="  "))


def report(name, y_true, proba):
    print(
        f"{name:<26} log-loss {log_loss(y_true, proba):.4f}   "
        f"Brier {brier_score_loss(y_true, proba[:, 1]):.4f}"
    )


def main():
    data = load_breast_cancer()
    X, y = data.data, data.target
    X_train, X_rest, y_train, y_rest = train_test_split(
        X, y, test_size=0.4, stratify=y, random_state=SEED
    )
    X_cal, X_test, y_cal, y_test = train_test_split(
        X_rest, y_rest, test_size=0.5, stratify=y_rest, random_state=SEED
    )
    print(
        f"Breast cancer: {len(X_train)} train / {len(X_cal)} calibration / "
        f"{len(X_test)} test samples, {X.shape[1]} features; "
        f"classes 0 = {data.target_names[0]}, 1 = {data.target_names[1]}"
    )

    section("1. skkeras_proba.KerasClassifier on a logits model")
    pipe = make_pipeline(
        StandardScaler(),
        KerasClassifier(build_logits_model, epochs=EPOCHS, random_state=SEED),
    )
    pipe.fit(X_train, y_train)
    clf = pipe[-1]
    (head,) = clf.heads_
    print("detected head (clf.heads_[0]):")
    print(f"  units={head.units}  activation={head.activation!r}  loss={head.loss!r}")
    print(f"  link={head.link!r}  logits={head.logits}  source={head.source!r}")
    print("  i.e. one log-odds unit, expanded to two columns [1 - p, p]")
    proba = pipe.predict_proba(X_test)
    print(f"accuracy  {accuracy_score(y_test, pipe.predict(X_test)):.4f}")
    print(f"log-loss  {log_loss(y_test, proba):.4f}")
    print(f"predict_proba shape {proba.shape}, columns = classes_ {clf.classes_}")
    print(f"  all in [0, 1]: {bool(((proba >= 0) & (proba <= 1)).all())}")
    print(f"  rows sum to 1: {bool(np.allclose(proba.sum(axis=1), 1.0))}")
    print("  first test rows:")
    show(proba[:3])

    section("2. Temperature scaling with CalibratedClassifierCV")
    calibrated = CalibratedClassifierCV(FrozenEstimator(pipe), method="temperature")
    calibrated.fit(X_cal, y_cal)
    calibrated_proba = calibrated.predict_proba(X_test)
    report("before, test set:", y_test, proba)
    report("after,  test set:", y_test, calibrated_proba)
    print("  first test rows, calibrated (less over-confident):")
    show(calibrated_proba[:3])

    section("3. The same model through scikeras.wrappers.KerasClassifier")
    scikeras_pipe = make_pipeline(
        StandardScaler(),
        ScikerasClassifier(
            build_logits_model, epochs=EPOCHS, random_state=SEED, verbose=0
        ),
    )
    scikeras_pipe.fit(X_train, y_train)
    raw = scikeras_pipe.predict_proba(X_test)
    print("predict_proba, first test rows: [1 - z, z] of the logit z")
    show(raw[:3])
    outside = ((raw < 0) | (raw > 1)).any(axis=1).mean()
    print(
        f"  values range over [{raw.min():.1f}, {raw.max():.1f}]: {outside:.0%} of "
        "test rows are not probabilities"
    )
    try:
        log_loss(y_test, raw)
    except ValueError as error:
        print(f"  sklearn.metrics.log_loss refuses them: {error}")

    print(f"\nDone in {time.perf_counter() - START:.0f} s.")


if __name__ == "__main__":
    main()
