"""Merging what merchants, catalog and offers answer into one ranking.

Each domain ranks its own hits with PostgreSQL (ts_rank, trigram similarity, rating...), but
those scores do not compare across domains. So every hit gets two numbers on one scale:
how well its title matches the query (computed here, the same way for every kind: exact,
prefix, every word a prefix, else trigram similarity as pg_trgm computes it) and its place
within its own domain's answer (its score over that domain's best). The title match weighs
more, so that an exact merchant name beats a product that merely mentions it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

from gullak.kit.search import SearchHit, Suggestion

MATCH_WEIGHT = 0.6
# Ties between kinds go to the one people most often mean by a name.
KIND_WEIGHT = {"merchant": 1.0, "outlet": 0.99, "offer": 0.97, "product": 0.94, "query": 0.9}
_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"[^\W_]+")


def normalize(text: str | None) -> str | None:
    """Unicode-normalised, control characters dropped, spaces collapsed; None when empty."""
    if text is None:
        return None
    text = unicodedata.normalize("NFKC", text)
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    text = _SPACE.sub(" ", text).strip()
    return text or None


def words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def trigrams(word: str) -> set[str]:
    padded = f"  {word} "  # as pg_trgm pads a word: two spaces before, one after
    return {padded[i:i + 3] for i in range(len(padded) - 2)}


def similarity(a: str, b: str) -> float:
    ta, tb = trigrams(a), trigrams(b)
    return len(ta & tb) / len(ta | tb) if ta and tb else 0.0


def title_match(query: str, title: str) -> float:
    """How well `title` answers `query`, from 0 to 1, the same way for every kind."""
    q, t = " ".join(words(query)), " ".join(words(title))
    if not q or not t:
        return 0.0
    if q == t:
        return 1.0
    if t.startswith(q):
        return 0.95
    title_words = t.split()
    query_words = q.split()
    if all(any(w.startswith(p) for w in title_words) for p in query_words):
        return 0.9
    # Typos: each query word against its most similar title word.
    best = [max(similarity(p, w) for w in title_words) for p in query_words]
    return 0.8 * sum(best) / len(best)


def _relevance(score: float, top: float, index: int) -> float:
    if top > 0:
        return max(0.0, score / top)
    return 1 / (1 + index)  # scores that say nothing: keep the domain's own order


def merge_hits(text: str | None, answers: Iterable[Sequence[SearchHit]],
               limit: int) -> list[tuple[float, SearchHit]]:
    """The best `limit` hits of all answers, each with its combined score, best first."""
    ranked: list[tuple[float, SearchHit]] = []
    seen: set[tuple[str, str]] = set()
    for hits in answers:
        top = max((h.score for h in hits), default=0.0)
        for index, hit in enumerate(hits):
            if (hit.kind, str(hit.id)) in seen:
                continue
            seen.add((hit.kind, str(hit.id)))
            relevance = _relevance(hit.score, top, index)
            match = title_match(text, hit.title) if text else 1.0
            score = (MATCH_WEIGHT * match + (1 - MATCH_WEIGHT) * relevance)
            ranked.append((score * KIND_WEIGHT.get(hit.kind, 0.9), hit))
    ranked.sort(key=lambda pair: (-pair[0], -KIND_WEIGHT.get(pair[1].kind, 0.9), str(pair[1].id)))
    return ranked[:limit]


def merge_suggestions(prefix: str, answers: Iterable[Sequence[Suggestion]],
                      popular: Sequence[tuple[str, int]],
                      limit: int) -> list[tuple[float, Suggestion | str]]:
    """Suggestions of every kind and popular searches, one per distinct text, best first.

    A popular search that reads exactly like a merchant, product or offer gives way to it:
    the suggestion with an id takes the user straight there."""
    best: dict[str, tuple[float, Suggestion | str]] = {}

    def offer(score: float, text: str, item: Suggestion | str) -> None:
        key = " ".join(words(text)) or text.casefold()
        kind = item.kind if isinstance(item, Suggestion) else "query"
        score *= KIND_WEIGHT.get(kind, 0.9)
        if key not in best:
            best[key] = (score, item)
            return
        held_score, held = best[key]
        if isinstance(held, Suggestion) != isinstance(item, Suggestion):
            keep = held if isinstance(held, Suggestion) else item
            best[key] = (max(score, held_score), keep)
        elif score > held_score:
            best[key] = (score, item)

    for suggestions in answers:
        top = max((s.score for s in suggestions), default=0.0)
        for index, suggestion in enumerate(suggestions):
            relevance = _relevance(suggestion.score, top, index)
            match = title_match(prefix, suggestion.text)
            offer(MATCH_WEIGHT * match + (1 - MATCH_WEIGHT) * relevance, suggestion.text,
                  suggestion)
    most = max((n for _, n in popular), default=0)
    for text, searches in popular:
        relevance = searches / most if most else 0.0
        offer(MATCH_WEIGHT * title_match(prefix, text) + (1 - MATCH_WEIGHT) * relevance, text,
              text)
    ordered = sorted(best.values(), key=lambda pair: (-pair[0], _text(pair[1])))
    return ordered[:limit]


def _text(item: Suggestion | str) -> str:
    return item.text if isinstance(item, Suggestion) else item
