"""Sphinx configuration of fastrnn's documentation (``make docs``).

The build is offline and so is the site: no intersphinx, no math (Sphinx would load
MathJax from a CDN), and the PyData theme ships its fonts and icons as local files,
so the pages load nothing from another host (tests/test_docs.py checks it in a
browser).
"""
import fastrnn

project = "fastrnn"
author = "the fastrnn developers"
copyright = "the fastrnn developers"
release = version = fastrnn.__version__

extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
templates_path = ["_templates"]

# the API reference: one generated page per public name (api/index.rst)
autosummary_generate = True
autosummary_ignore_module_all = False   # a module page lists its __all__ where it has one
autodoc_default_options = {"members": True}
numpydoc_show_class_members = False    # the class template lists the members itself
numpydoc_class_members_toctree = False
toc_object_entries_show_parents = "hide"     # "fit()" in a page's contents, not "SequenceClassifier.fit()"

# Markdown pages: headings down to ### get anchors, for links such as page.md#a-section
myst_heading_anchors = 3

html_theme = "pydata_sphinx_theme"
html_title = f"fastrnn {release}"
html_theme_options = {
    "show_toc_level": 2,
    "navbar_persistent": ["search-button"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_show_sourcelink = False
# no left sidebar on the pages that have no sub-pages to list there
html_sidebars = {page: [] for page in ("index", "getting-started", "performance", "benchmarks",
                                       "design")}
html_static_path = ["_static"]
html_css_files = ["fastrnn.css"]


def _skip_named_tuple_fields(app, what, name, obj, skip, options):
    """A named tuple's fields are not listed as members: its docstring documents them (as
    Parameters, and for the functional API's outputs as Attributes with their shapes)."""
    return True if type(obj).__name__ == "_tuplegetter" else None


def setup(app):
    app.connect("autodoc-skip-member", _skip_named_tuple_fields)
