"""cleaner: articles.fetched -> articles.cleaned. Keeps the article body, strips boilerplate, counts it."""
