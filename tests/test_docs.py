"""Every ``.. code-block:: python`` example and ``.. plot::`` figure in docs/ runs.

A page's blocks run in order in one namespace, as a reader would type them, so a
later block may use names an earlier one defined (figure pages use ``.. plot::``
with ``:context:``, which the docs build runs the same way). Tracebacks point at
the line of the ``.rst`` page the failing statement is on.

A block that cannot run here (it needs a remote cluster, or a package the tests
do not install) carries the directive option ``:class: no-run``; it is shown
like any other block and only compiled, not run, by these tests. Say in the
page's text why it is not run.

Also: parameters both estimators share are documented alike (numpydoc needs
each class's text written out; the test keeps the copies the same).
"""

import importlib.util
import inspect
import os
import random
import re
import sys
import textwrap
import types
from pathlib import Path

import numpy as np
import pytest

from tests.sklearn_features import requires_temperature_scaling

# Figures are drawn off screen, as in the docs build (docs/conf.py).
os.environ.setdefault("MPLBACKEND", "Agg")

DOCS = Path(__file__).resolve().parent.parent / "docs"
_DIRECTIVE = re.compile(r"^(?P<indent>[ \t]*)\.\. (code-block:: python|plot::)\s*$")
_OPTION = re.compile(r"^[ \t]*:[\w-]+:")
_NO_RUN = re.compile(r"^[ \t]*:class:.*\bno-run\b")


def python_blocks(text: str, no_run: bool = False) -> list[tuple[int, str]]:
    """``(first line number, dedented code)`` of each Python block meant to run.

    ``no_run=True``: of each block marked ``:class: no-run`` instead.
    """
    lines = text.splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        match = _DIRECTIVE.match(lines[i])
        i += 1
        if match is None:
            continue
        indent = len(match["indent"])
        runs = True
        while i < len(lines) and _OPTION.match(lines[i]):
            runs = runs and not _NO_RUN.match(lines[i])
            i += 1  # directive options such as :caption:
        body_start = i
        while i < len(lines) and (
            not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent
        ):
            i += 1
        body = lines[body_start:i]
        while body and not body[-1].strip():
            body.pop()
        while body and not body[0].strip():
            body.pop(0)
            body_start += 1
        if body and runs != no_run:
            blocks.append((body_start + 1, textwrap.dedent("\n".join(body))))
    return blocks


requires_onnx = pytest.mark.skipif(
    importlib.util.find_spec("skl2onnx") is None,
    reason='needs the onnx extra (pip install ".[onnx]"), which make test installs',
)

# Pages whose examples use a scikit-learn feature newer than the oldest
# supported, or a package of an extra that make test-oldest does not install.
_PAGE_MARKS = {
    "guide/pretrained.rst": [requires_temperature_scaling],
    "guide/calibration.rst": [requires_temperature_scaling],
    "guide/onnx.rst": [requires_onnx],
}


# Written by the docs build (``make docs``), not pages of ours.
_BUILD_OUTPUT = {"_build", "_templates", "auto_examples", "gen_modules", "generated"}


def _pages() -> list[Path]:
    return sorted(
        page
        for page in DOCS.rglob("*.rst")
        if _BUILD_OUTPUT.isdisjoint(page.relative_to(DOCS).parts[:-1])
        and page.name != "sg_execution_times.rst"
    )


def _pages_with_examples() -> list[Path]:
    return [page for page in _pages() if python_blocks(page.read_text())]


def test_python_blocks_are_read_with_their_line_numbers():
    text = "Intro\n\n.. code-block:: python\n   :caption: x\n\n   a = 1\n\n   b = a\n"
    text += "\nAfter.\n\n  .. code-block:: python\n\n     c = 2\n"
    text += "\n.. plot::\n   :context:\n\n   d = 3\n"
    assert python_blocks(text) == [(6, "a = 1\n\nb = a"), (14, "c = 2"), (19, "d = 3")]


def test_blocks_marked_no_run_are_skipped():
    text = ".. code-block:: python\n   :class: no-run\n\n   connect()\n\n"
    text += ".. code-block:: python\n   :class: highlight\n\n   d = 3\n"
    assert python_blocks(text) == [(9, "d = 3")]
    assert python_blocks(text, no_run=True) == [(4, "connect()")]


@pytest.mark.parametrize(
    "page",
    [page for page in _pages() if python_blocks(page.read_text(), no_run=True)],
    ids=lambda page: page.relative_to(DOCS).as_posix(),
)
def test_examples_marked_no_run_compile(page):
    for line, code in python_blocks(page.read_text(), no_run=True):
        compile("\n" * (line - 1) + code, str(page), "exec")


def test_every_guide_page_has_a_runnable_example():
    guide = sorted((DOCS / "guide").glob("*.rst"))
    assert guide, "docs/guide/ has no pages"
    assert [page.name for page in guide if page not in _pages_with_examples()] == []


def _page_params() -> list:
    params = []
    for page in _pages_with_examples():
        name = page.relative_to(DOCS).as_posix()
        params.append(pytest.param(page, marks=_PAGE_MARKS.get(name, []), id=name))
    return params


@pytest.mark.parametrize("page", _page_params())
def test_page_examples_run(page):
    # A real module, so that functions the page defines can be pickled.
    module = types.ModuleType(f"docs_example_{page.stem}")
    sys.modules[module.__name__] = module
    python_state, numpy_state = random.getstate(), np.random.get_state()
    try:
        for line, code in python_blocks(page.read_text()):
            # Pad so that tracebacks give the line number within the page.
            compiled = compile("\n" * (line - 1) + code, str(page), "exec")
            exec(compiled, module.__dict__)
    finally:
        if "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].close("all")
        del sys.modules[module.__name__]
        random.setstate(python_state)
        np.random.set_state(numpy_state)


# ------------------------------------------------ parameters both estimators share

DIFFERING_PARAMETERS = {
    "model": "the regressor's output units must match y's targets",
    "random_state": "only the classifier has Monte Carlo dropout to seed",
    "**kwargs": "only the classifier's example routes predict__batch_size",
}


def parameter_docs(cls) -> dict[str, str]:
    """Each parameter's numpydoc entry in a class docstring, by name."""
    section = inspect.getdoc(cls).split("Parameters\n----------\n", 1)[1]
    entries: dict[str, list[str]] = {}
    for line in section.split("\n\n", 1)[0].splitlines():
        name = re.match(r"^(\*\*\w+|\w+) : ", line)
        if name:
            entries[name.group(1)] = []
        entries[list(entries)[-1]].append(line)
    return {name: "\n".join(lines) for name, lines in entries.items()}


def test_parameters_both_estimators_share_are_documented_alike():
    from skkeras_proba import KerasClassifier, KerasRegressor

    classifier, regressor = (
        parameter_docs(KerasClassifier),
        parameter_docs(KerasRegressor),
    )
    shared = set(classifier) & set(regressor)
    assert {"steps_per_execution", "reuse_train_trace", "compile_epochs"} <= shared
    differing = {name for name in shared if classifier[name] != regressor[name]}
    assert differing == set(DIFFERING_PARAMETERS)
