"""Smoke test of the built wheel, installed in a clean virtual environment.

Run by ``.ci/wheel_check.sh`` with that environment's Python, from a directory
outside the source tree, with the wheel's path as the only argument:

1. the wheel holds only the package (with its ``py.typed``) and its metadata;
2. the package imports from the environment, not from a source tree, without
   a version warning, and reports the wheel's version;
3. a classifier fits, gives probabilities, and survives a pickle round trip.
"""

import importlib.metadata
import pickle
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np


def check_contents(wheel: Path) -> str:
    """Fail on any file outside the package and its dist-info; return the version."""
    name, version = wheel.name.split("-")[:2]
    allowed = (f"{name}/", f"{name}-{version}.dist-info/")
    files = zipfile.ZipFile(wheel).namelist()
    print(f"{wheel.name}: {len(files)} files")
    for file in files:
        print(f"  {file}")
    strays = [
        file
        for file in files
        if not file.startswith(allowed)
        or "__pycache__" in file
        or file.endswith(".pyc")
    ]
    if strays:
        sys.exit(f"The wheel holds files outside the package: {strays}")
    if f"{name}/py.typed" not in files:
        sys.exit("The wheel has no py.typed marker.")
    return version


def check_import(version: str) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import skkeras_proba
    module_path = Path(skkeras_proba.__file__).resolve()
    if "site-packages" not in module_path.parts:
        sys.exit(f"skkeras_proba was imported from {module_path}, not the wheel.")
    if skkeras_proba.__version__ != version:
        sys.exit(
            f"__version__ is {skkeras_proba.__version__!r}; the wheel is {version}."
        )
    ours = [w for w in caught if "skkeras_proba" in str(w.message)]
    if ours:
        sys.exit(f"Importing the installed wheel warned: {ours[0].message}")
    print(f"skkeras_proba {version} imported from {module_path.parent}")


def build(meta):
    """Logits head on iris: one Dense layer, no activation."""
    import keras

    inputs = keras.Input((meta["n_features_in_"],))
    model = keras.Model(inputs, keras.layers.Dense(meta["n_classes_"])(inputs))
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def check_fit_predict_pickle() -> None:
    from sklearn.datasets import load_iris

    from skkeras_proba import KerasClassifier

    X, y = load_iris(return_X_y=True)
    clf = KerasClassifier(build, epochs=3, random_state=0).fit(X, y)
    proba = clf.predict_proba(X)
    if proba.shape != (150, 3) or not np.allclose(proba.sum(axis=1), 1, atol=1e-5):
        sys.exit(f"predict_proba gave no probabilities: shape {proba.shape}")
    restored = pickle.loads(pickle.dumps(clf))
    if not np.allclose(restored.predict_proba(X), proba, atol=1e-6):
        sys.exit("predict_proba changed after a pickle round trip.")
    print(f"fit, predict_proba and pickle: ok ({clf.heads_[0].link} head)")


if __name__ == "__main__":
    version = check_contents(Path(sys.argv[1]))
    check_import(version)
    if importlib.metadata.version("skkeras_proba") != version:
        sys.exit("The installed distribution is not the wheel that was checked.")
    check_fit_predict_pickle()
    print("wheel smoke test passed")
