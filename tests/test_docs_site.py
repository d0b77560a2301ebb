"""The documentation site: its example gallery, API reference and Sphinx build.

The gallery's scripts (``examples/plot_*.py``, run by sphinx-gallery in ``make
docs``) run here on every backend, each in this process as a reader would run
it. The whole site is built once, on TensorFlow as ``make docs`` builds it, with
warnings as errors and every internal reference checked (``-W -n``); the build
leaves the gallery unexecuted there (``plot_gallery=0``), since the scripts
have just run above.
"""

import importlib.util
import inspect
import os
import random
import re
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from skkeras_proba._compat import tf_op_determinism_enabled
from tests.backends import tensorflow_only
from tests.sklearn_features import requires_temperature_scaling

os.environ.setdefault("MPLBACKEND", "Agg")  # figures are drawn off screen

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
EXAMPLES = ROOT / "examples"
# The docs build writes these into docs/; the test build gets a copy without.
_BUILD_OUTPUT = ("_build", "auto_examples", "gen_modules", "generated")

# Examples that use a scikit-learn feature newer than the oldest supported.
_EXAMPLE_MARKS = {
    "plot_calibration.py": [requires_temperature_scaling],
    "plot_logits_vs_scikeras.py": [requires_temperature_scaling],
}


def _gallery() -> list[Path]:
    return sorted(EXAMPLES.glob("plot_*.py"))


def _public_names() -> list[str]:
    import skkeras_proba

    return sorted(name for name in skkeras_proba.__all__ if name != "__version__")


# ------------------------------------------------------------------- the gallery


def test_every_example_is_run_by_the_gallery():
    # sphinx-gallery shows any other script without running it: no output.
    scripts = {path.name for path in EXAMPLES.glob("*.py")}
    assert scripts - {path.name for path in _gallery()} == {"demo.py"}
    assert len(_gallery()) >= 4


def test_make_demo_runs_a_gallery_example():
    demo = runpy.run_path(str(EXAMPLES / "demo.py"), run_name="demo")
    assert demo["EXAMPLE"] in _gallery()


@pytest.mark.parametrize(
    "script",
    [
        pytest.param(path, marks=_EXAMPLE_MARKS.get(path.name, []), id=path.name)
        for path in _gallery()
    ],
)
def test_example_runs_and_draws_a_figure(script):
    import matplotlib.pyplot as plt

    source = script.read_text()
    title = re.match(r'"""\n(.+)\n(=+)\n', source)
    assert title and len(title[2]) == len(title[1]), "a docstring title, underlined"
    assert "\n# %%\n" in source, "text and code cells as sphinx-gallery reads them"

    plt.close("all")
    python_state, numpy_state = random.getstate(), np.random.get_state()
    # Read before the script runs, not only compared after: TensorFlow reads
    # its op-determinism state lazily, and when scikeras' seeded fit (in
    # plot_logits_vs_scikeras.py) is the first to read it, it reads the
    # TF_DETERMINISTIC_OPS=1 it has just set, takes determinism as already on
    # and leaves it on (seen on JAX, where nothing else read it first).
    determinism = tf_op_determinism_enabled()
    try:
        runpy.run_path(str(script), run_name="__main__")
        assert plt.get_fignums(), f"{script.name} drew no figure"
    finally:
        plt.close("all")
        random.setstate(python_state)
        np.random.set_state(numpy_state)
    assert tf_op_determinism_enabled() == determinism, (
        f"{script.name} left TensorFlow's op determinism switched"
    )


# ------------------------------------------------------------- the API reference


def _api_entries() -> list[str]:
    """Names listed in the ``autosummary`` tables of docs/api.rst."""
    entries = []
    in_table = False
    for line in (DOCS / "api.rst").read_text().splitlines():
        if line.startswith(".. autosummary::"):
            in_table = True
        elif in_table and re.match(r"^   \w+$", line):
            entries.append(line.strip())
        elif line and not line.startswith(" "):
            in_table = False
    return entries


def test_api_reference_has_a_page_for_every_public_name():
    entries = _api_entries()
    assert sorted(entries) == _public_names()
    assert len(entries) == len(set(entries))


def _documented_attributes(cls) -> set[str]:
    section = inspect.getdoc(cls).split("Attributes\n----------\n", 1)[1]
    section = section.split("\n\n", 1)[0]
    return set(re.findall(r"^(\w+) : ", section, flags=re.M))


def _fitted_attributes(estimator) -> set[str]:
    return {
        name
        for name in vars(estimator)
        if name.endswith("_") and not name.startswith("_")
    }


def test_every_fitted_attribute_is_documented():
    import keras
    from sklearn.datasets import load_diabetes, load_iris

    from skkeras_proba import KerasClassifier, KerasRegressor

    X, y = load_iris(return_X_y=True)

    def classifier(meta):
        model = keras.Sequential(
            [keras.Input((meta["n_features_in_"],)), keras.layers.Dense(3)]
        )
        model.compile("adam", keras.losses.SparseCategoricalCrossentropy(True))
        return model

    def regressor(meta):
        model = keras.Sequential(
            [keras.Input((meta["n_features_in_"],)), keras.layers.Dense(1)]
        )
        model.compile("adam", "mse")
        return model

    fitted = KerasClassifier(classifier, epochs=1, random_state=0).fit(X, y)
    trained = KerasClassifier.from_trained(fitted.model_, classes=[0, 1, 2])
    X_reg, y_reg = load_diabetes(return_X_y=True)
    regression = KerasRegressor(regressor, epochs=1, random_state=0)
    regression.fit(X_reg, y_reg)

    documented = _documented_attributes(KerasClassifier)
    assert _fitted_attributes(fitted) - documented == set()
    assert _fitted_attributes(trained) - documented == set()
    documented = _documented_attributes(KerasRegressor)
    assert _fitted_attributes(regression) - documented == set()


# ------------------------------------------------------------------ the build


def _missing_docs_packages() -> list[str]:
    needed = ["sphinx", "numpydoc", "sphinx_gallery", "sphinx_copybutton"]
    needed.append("pydata_sphinx_theme")
    return [name for name in needed if importlib.util.find_spec(name) is None]


@tensorflow_only("the site is built once, on TensorFlow, as `make docs` builds it")
@pytest.mark.skipif(
    bool(_missing_docs_packages()),
    reason=f"the docs extra is not installed: no {_missing_docs_packages()}",
)
def test_docs_build_without_warnings_with_a_page_per_object_and_example(tmp_path):
    for folder in (DOCS, EXAMPLES):
        ignore = shutil.ignore_patterns(*_BUILD_OUTPUT, "sg_execution_times.rst")
        shutil.copytree(folder, tmp_path / folder.name, ignore=ignore)
    html = tmp_path / "html"
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "MPLBACKEND": "Agg"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    command = [sys.executable, "-m", "sphinx", "-W", "-n", "-q", "-b", "html"]
    command += ["-D", "plot_gallery=0", str(tmp_path / "docs"), str(html)]
    build = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=600, check=False
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-5000:]

    api = {page.stem for page in (html / "generated").glob("*.html")}
    assert api == {f"skkeras_proba.{name}" for name in _public_names()}
    gallery = {page.stem for page in (html / "auto_examples").glob("plot_*.html")}
    assert gallery == {script.stem for script in _gallery()}
    assert (html / "searchindex.js").is_file()
    landing = (html / "index.html").read_text()
    for link in ["user_guide.html", "auto_examples/index.html", "api.html"]:
        assert f'href="{link}' in landing, link
