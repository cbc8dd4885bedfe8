"""Discovery: search and autocomplete across merchants, products and offers, nearby outlets,
the search query log, hot-read caches."""
