"""Sphinx configuration: ``make docs`` builds HTML into docs/_build/html."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("MPLBACKEND", "Agg")  # figures are drawn to files only

import skkeras_proba

project = "skkeras_proba"
author = "skkeras_proba developers"
copyright = "skkeras_proba developers"
release = skkeras_proba.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "numpydoc",
    "matplotlib.sphinxext.plot_directive",
]

exclude_patterns = ["_build"]
default_role = "literal"  # `x` renders as code, never as a broken reference

autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types
autodoc_member_order = "bysource"
numpydoc_show_class_members = False  # methods are listed with :members: instead
numpydoc_xref_param_type = False

html_theme = "alabaster"
html_title = f"skkeras_proba {release}"

# ``.. plot::`` blocks run at build time and their figures go into the page;
# tests/test_docs.py runs the same code. Every page imports what it uses.
plot_pre_code = ""
plot_include_source = True
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 100)]
