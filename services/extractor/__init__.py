"""extractor: articles.cleaned -> articles.extracted. Entities, dates, quantities, quotes, keywords,
language and a short summary."""
