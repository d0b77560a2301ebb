"""The two engines stand below the estimators and apart from each other.

``_fit/`` (training) and ``_forward/`` (prediction) are imported by
``_base.py``; neither imports the other, nor anything above them, so either
can be read, tested and changed on its own. What both need lives in a module
below them (``_common.py``, ``_callbacks.py``, ``_sparse_input.py``).
"""

import ast
from pathlib import Path

import pytest

import skkeras_proba
from skkeras_proba._common import ALL_ROWS, rows_per_batch

PACKAGE = Path(skkeras_proba.__file__).parent
ENGINES = ("_fit", "_forward")
ABOVE_THE_ENGINES = (
    "_base",
    "_classifier",
    "_regressor",
    "_persistence",
    "_onnx",
    "_routing",
    "_scikeras_fixes",
)


def _imported_modules(engine):
    """``skkeras_proba`` modules imported anywhere in the engine's package."""
    imported = set()
    for path in (PACKAGE / engine).glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [
                    f"{node.module}.{alias.name}" for alias in node.names
                ]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            imported.update(n for n in names if n.startswith("skkeras_proba."))
    return imported


def _first_part(module):
    return module.split(".")[1]


@pytest.mark.parametrize("engine", ENGINES)
def test_an_engine_imports_neither_the_other_engine_nor_what_stands_above(engine):
    other = next(e for e in ENGINES if e != engine)
    parts = {_first_part(module) for module in _imported_modules(engine)}
    assert other not in parts
    assert not parts & set(ABOVE_THE_ENGINES)


def test_an_engine_is_seen_importing_its_own_modules():
    # The parser above finds imports at all: each engine imports its own parts.
    for engine in ENGINES:
        assert engine in {_first_part(m) for m in _imported_modules(engine)}


@pytest.mark.parametrize(
    ("batch_size", "expected"), [(ALL_ROWS, 57), (8, 8), (None, None)]
)
def test_batch_size_minus_one_means_all_rows_and_others_stay(batch_size, expected):
    assert rows_per_batch(batch_size, 57) == expected
