"""Autocomplete: names of merchants, products and offers, and popular searches, for what was
typed so far."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.discovery import errors, spelling
from gullak.discovery.checks import MAX_PREFIX, checked_city, checked_limit, checked_text
from gullak.discovery.common import (
    FORGIVE_BELOW,
    SEARCH_KINDS,
    SOURCES,
    count,
    suggestions_cache,
    tune,
)
from gullak.discovery.popular import popular_with_prefix
from gullak.discovery.ranking import merge_suggestions
from gullak.discovery.schemas import AutocompleteOut, SuggestionOut
from gullak.kit.search import Suggestion

MAX_SUGGESTIONS = 20
# One letter matches a good part of every catalogue: it is answered from popular searches
# alone, names are looked up from the second letter on.
NAMES_FROM = 2


async def autocomplete(session: AsyncSession, prefix: str | None, city: str | None,
                       limit: int = 8) -> AutocompleteOut:
    """Names of merchants, products and offers, and popular searches, for what was typed so
    far (prefixes, and typos through trigram similarity in each domain)."""
    typed = checked_text(prefix, "q", MAX_PREFIX)
    if typed is None:
        raise errors.QueryRequired("Type at least one character.", field="q")
    city = checked_city(city)
    limit = checked_limit(limit, MAX_SUGGESTIONS)
    key = suggestions_cache.key(typed, city, limit)
    cached = await suggestions_cache.get(key)
    if cached is not None:
        return AutocompleteOut.model_validate(cached)
    answers: list[list[Suggestion]] = []
    if len(typed) >= NAMES_FROM:
        answers = await _names(session, typed, city, limit, forgiving=False)
        if count(answers) < min(FORGIVE_BELOW, limit):
            # A typo: the corrected words if the dictionary knows them, else trigrams.
            corrected = await spelling.correct(session, typed)
            answers = await (_names(session, corrected, city, limit, forgiving=False)
                             if corrected else
                             _names(session, typed, city, limit, forgiving=True))
    popular = await popular_with_prefix(session, typed, city, limit)
    suggestions = []
    for score, item in merge_suggestions(typed, answers, popular, limit):
        if isinstance(item, Suggestion):
            suggestions.append(SuggestionOut(kind=item.kind, id=item.id, text=item.text,
                                             score=round(score, 4)))
        else:
            suggestions.append(SuggestionOut(kind="query", id=None, text=item,
                                             score=round(score, 4)))
    out = AutocompleteOut(prefix=typed, suggestions=suggestions)
    await suggestions_cache.put(key, out.model_dump(mode="json"))
    return out


async def _names(session: AsyncSession, typed: str, city: str | None, limit: int, *,
                 forgiving: bool) -> list[list[Suggestion]]:
    await tune(session, forgiving=forgiving)
    return [list(await SOURCES[kind].autocomplete(session, typed, limit, city))
            for kind in SEARCH_KINDS]
