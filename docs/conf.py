"""Sphinx configuration: ``make docs`` builds HTML into docs/_build/html."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import skkeras_proba

project = "skkeras_proba"
author = "skkeras_proba developers"
copyright = "skkeras_proba developers"
release = skkeras_proba.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "numpydoc",
]

exclude_patterns = ["_build"]
default_role = "literal"  # `x` renders as code, never as a broken reference

autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types
autodoc_member_order = "bysource"
numpydoc_show_class_members = False  # methods are listed with :members: instead
numpydoc_xref_param_type = False

html_theme = "alabaster"
html_title = f"skkeras_proba {release}"
