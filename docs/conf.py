"""Sphinx configuration: ``make docs`` builds HTML into docs/_build/html.

The example gallery (sphinx-gallery) runs the ``examples/plot_*.py`` scripts
and writes its pages to ``auto_examples/``; autosummary writes one page per
public object to ``generated/``. Both folders, like ``_build``, are build
output and not committed.
"""

import importlib
import inspect
import os
import re

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
    "sphinx.ext.autosummary",
    "numpydoc",
    "matplotlib.sphinxext.plot_directive",
    "sphinx_gallery.gen_gallery",
    "sphinx_copybutton",
]

templates_path = ["_templates"]
toc_object_entries_show_parents = "hide"  # "fit()", not "KerasClassifier.fit()"
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
default_role = "literal"  # `x` renders as code, never as a broken reference

# -- API reference: one page per object listed in api.rst ----------------------
autosummary_generate = True
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types
autodoc_member_order = "bysource"
# numpydoc lists each class's methods in a table that links to them below.
numpydoc_show_class_members = True
numpydoc_show_inherited_class_members = True
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# Methods inherited from scikit-learn (``score``, ``set_params``, metadata
# routing) bring docstrings that refer to scikit-learn's own documentation,
# which this build has no index of (it runs offline): their cross-references
# are shown as text (``:ref:``, ``:term:``) or code (Python objects).
_SKLEARN_ROLE = re.compile(
    r":(?:py:)?(ref|term|doc|func|class|meth|attr|mod|obj|data|exc):`~?([^`]*)`"
)


def _unlinked(match: re.Match) -> str:
    role, content = match.groups()
    if role in ("ref", "term", "doc"):
        labelled = re.fullmatch(r"(.*?)\s*<[^>]*>", content, flags=re.S)
        return labelled.group(1) if labelled else content
    return f"``{content}``"


def _sklearn_references_as_text(app, what, name, obj, options, lines):
    if (getattr(obj, "__module__", None) or "").startswith("sklearn."):
        lines[:] = [_SKLEARN_ROLE.sub(_unlinked, line) for line in lines]


def _fitted_attribute_reference(app, env, node, contnode):
    """Resolve ``:attr:`Class.name_``` to the page of the class.

    numpydoc renders a class's Attributes section without a target per entry,
    so a reference to a fitted attribute links to its class, provided the
    class's docstring documents it (anything else stays a broken reference).
    """
    if node.get("refdomain") != "py" or node.get("reftype") != "attr":
        return None
    owner, _, attribute = node["reftarget"].rpartition(".")
    module = node.get("py:module") or "skkeras_proba"
    owner = (owner or node.get("py:class") or "").removeprefix(f"{module}.")
    cls = getattr(importlib.import_module(module), owner, None)
    documented = re.compile(rf"^{re.escape(attribute)} : ", flags=re.M)
    if not (isinstance(cls, type) and attribute.endswith("_")):
        return None
    if not documented.search(inspect.getdoc(cls) or ""):
        return None
    return env.get_domain("py").resolve_xref(
        env, node["refdoc"], app.builder, "class", f"{module}.{owner}", node, contnode
    )


def setup(app):
    app.connect("autodoc-process-docstring", _sklearn_references_as_text)
    app.connect("missing-reference", _fitted_attribute_reference)


# -- Example gallery ------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    # Only plot_*.py files are run; demo.py is the terminal launcher of one.
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"(__init__|demo)\.py",
    "within_subsection_order": "FileNameSortKey",
    # "Examples using X" at the foot of each API page.
    "backreferences_dir": "gen_modules/backreferences",
    "doc_module": ("skkeras_proba",),
    "reference_url": {"skkeras_proba": None},
    "remove_config_comments": True,
    # The examples' execution times change from build to build; no page for them.
    "write_computation_times": False,
    "show_memory": False,
}

# -- Figures in the guide ---------------------------------------------------------
# ``.. plot::`` blocks run at build time and their figures go into the page;
# tests/test_docs.py runs the same code. Every page imports what it uses.
plot_pre_code = ""
plot_include_source = True
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 100)]

# -- HTML -----------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"skkeras_proba {release}"
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "header_links_before_dropdown": 5,
    # No list of sections beside the landing page; the other pages have one.
    "secondary_sidebar_items": {"**": ["page-toc"], "index": []},
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
}
html_sidebars = {"index": []}
html_show_sourcelink = False

# Copy buttons copy the code without ">>> ", "... " and "$ " prompts.
copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True
