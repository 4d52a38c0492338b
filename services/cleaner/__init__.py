"""cleaner: articles.fetched -> articles.cleaned. Keeps the article body, strips boilerplate, counts it.

Layers, each importing only those before it (tests/unit/test_cleaner_layers.py checks it): vocabulary ->
features -> model -> textmeta -> meta -> text (text mode) -> html (HTML mode) -> logic (the step) -> batch,
settings -> service (wiring). Importing the package itself loads nothing.
"""
