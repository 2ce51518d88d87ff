"""Sphinx configuration of sk3dmm's API reference, generated from the docstrings.

Build with ``make docs`` (installs Sphinx into .venv; needs the package registry, so CI does
not build it): the HTML lands in ``docs/api/_build/html``.
"""

project = "sk3dmm"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.autosummary", "sphinx.ext.napoleon", "sphinx.ext.viewcode"]
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False, "show-inheritance": True}
autodoc_typehints = "description"
napoleon_numpy_docstring = True
napoleon_google_docstring = False
exclude_patterns = ["_build"]
html_theme = "alabaster"
