"""Spelling correction: misspelt words of a query are replaced by the closest word of the
catalogue, as pg_trgm's documentation suggests for text search (a dictionary of the words in
the documents, searched by trigram similarity).

The dictionary (`search_terms`) holds every word of the names that the searchable domains
offer (their `SEARCH_TERMS`, a query yielding one tsvector per document, so that what counts
as searchable stays each domain's own rule) with the number of
documents it appears in. A job rebuilds it every ten minutes; until the first run it is
empty and nothing is corrected (search then falls back to trigram matching in each domain).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

# Shorter words are left alone: one wrong letter in three is another word, not a typo.
MIN_LENGTH = 4
MAX_WORDS = 8
# Candidates are the words most alike by trigram similarity (pg_trgm, 0 to 1): "biryni" is
# 0.5 of "biryani", but two letters swapped score low ("gloden" is 0.27 of "golden"), so the
# bar is low and the choice among the candidates is made by edit distance.
MIN_SIMILARITY = 0.2
CANDIDATES = 5
_WORD = re.compile(r"[^\W\d_]+")
_THRESHOLD = text("SELECT set_config('pg_trgm.similarity_threshold', :t, true)")
_CANDIDATES = text("""
SELECT w.word, c.term, c.documents
FROM unnest(CAST(:words AS text[])) AS w(word)
CROSS JOIN LATERAL (
    SELECT t.term, t.documents FROM search_terms t
    WHERE t.term % w.word
    ORDER BY similarity(t.term, w.word) DESC, t.documents DESC, t.term
    LIMIT :candidates) AS c
WHERE NOT EXISTS (SELECT 1 FROM search_terms t WHERE t.term = w.word)
""")


async def refresh_terms(session: AsyncSession, sources: Iterable[Select[Any]]) -> int:
    """Rebuild the dictionary from `sources` (each a query yielding one tsvector per
    document, built by its domain with constants only); returns the number of words."""
    # ts_stat takes its query as text, so each one is rendered with its values inline.
    union = " UNION ALL ".join(
        f"SELECT word, ndoc FROM ts_stat($q${_literal_sql(source)}$q$)" for source in sources)
    await session.execute(text("DELETE FROM search_terms"))
    result = await session.execute(text(
        f"INSERT INTO search_terms (term, documents) SELECT word, sum(ndoc) FROM ({union}) s"
        f" WHERE length(word) >= {MIN_LENGTH} AND word ~ '^[[:alpha:]]+$' GROUP BY word"))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _literal_sql(query: Select[Any]) -> str:
    return str(query.compile(dialect=postgresql.dialect(),
                             compile_kwargs={"literal_binds": True}))


async def correct(session: AsyncSession, query: str) -> str | None:
    """`query` with each word that is not in the dictionary replaced by the closest one that
    is (fewest edits, then the most common); None when nothing was replaced."""
    lowered = query.lower()
    words = sorted({w for w in _WORD.findall(lowered) if len(w) >= MIN_LENGTH})[:MAX_WORDS]
    if not words:
        return None
    await session.execute(_THRESHOLD, {"t": str(MIN_SIMILARITY)})
    rows = await session.execute(_CANDIDATES, {"words": words, "candidates": CANDIDATES})
    best: dict[str, tuple[int, int, str]] = {}
    for word, term, documents in rows:
        edits = distance(word, term)
        if edits <= max_edits(word):
            ranked = (edits, -documents, term)
            best[word] = min(best.get(word, ranked), ranked)
    if not best:
        return None
    return _WORD.sub(lambda m: best[m.group(0)][2] if m.group(0) in best else m.group(0),
                     lowered)


def max_edits(word: str) -> int:
    """Edits a correction may make: one in a word of up to seven letters, two beyond."""
    return 1 if len(word) <= 7 else 2


def distance(a: str, b: str) -> int:
    """Edits from `a` to `b`: letters inserted, deleted, changed, or two neighbours swapped
    (the optimal string alignment distance)."""
    before: list[int] = []
    row = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        two_back, before, row = before, row, [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            row[j] = min(before[j] + 1, row[j - 1] + 1, before[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], two_back[j - 2] + 1)
    return row[len(b)]
