"""What discovery's modules share: who searched, the caches of hot reads, and the domains
searched with the tuning of their queries."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak.catalog import service as catalog
from gullak.discovery.cache import TtlCache
from gullak.kit.security import Subject
from gullak.merchants import service as merchants
from gullak.offers import service as offers
from gullak.settings import Settings

SEARCH_KINDS = ("merchant", "product", "offer")

# Hot reads are cached briefly (cache.py: in this process, and in Redis when configured):
# - search results per exact query and filters, 30 s: discovery cannot see the other domains'
#   writes, so the short TTL is what invalidates them (a change shows within 30 s); every
#   search is still logged with its own query id, cached or not;
# - autocomplete suggestions per prefix and city, 60 s, and cleared by `refresh_popular`
#   (they include popular searches);
# - popular searches per city, until the next `refresh_popular` (every 10 minutes) clears
#   them, at most 5 minutes.
# Nearby answers are not cached: every point is different.
results_cache = TtlCache("search", 30)
suggestions_cache = TtlCache("suggest", 60)
popular_cache = TtlCache("popular", 300)


@dataclass(frozen=True)
class Searcher:
    """Who searched: a signed-in user, or an anonymous client told apart by a keyed hash."""

    user_id: uuid.UUID | None = None
    client_hash: str | None = None


def searcher(settings: Settings, subject: Subject | None, ip: str | None) -> Searcher:
    if subject is not None and subject.kind == "user":
        return Searcher(user_id=subject.id)
    if not ip:
        return Searcher()
    key = settings.secret("secret_key").encode()
    return Searcher(client_hash=hmac.new(key, ip.encode(), hashlib.sha256).hexdigest()[:32])


async def clear_caches() -> None:
    for cache in (results_cache, suggestions_cache, popular_cache):
        await cache.clear()


# The domains searched, by kind: each keeps the search contract of gullak.kit.search.
SOURCES: dict[str, Any] = {"merchant": merchants, "product": catalog, "offer": offers}
# Settings for this transaction only, set before the domains' queries run:
# - random_page_cost 1.1 instead of 4 (a spinning disk's): with the default, the planner
#   prefers scanning a whole table, computing trigram similarity for every row, over the
#   trigram and full-text indexes (bench/README.md has the plans and the figures);
# - pg_trgm's word similarity threshold: its default (0.6) misses a letter dropped from a word
#   of seven ("biryni" is 0.57 of "biryani"); 0.5 forgives one slip in any word of five
#   letters or more, but lets many more rows through the trigram indexes. So a search asks at
#   0.6 first, and again at 0.5 only when that found almost nothing (FORGIVE_BELOW).
_TUNE = text("SELECT set_config('random_page_cost', '1.1', true),"
             " set_config('pg_trgm.word_similarity_threshold', :threshold, true)")
STRICT, FORGIVING = "0.6", "0.5"
FORGIVE_BELOW = 3


async def tune(session: AsyncSession, *, forgiving: bool = False) -> None:
    """Set this transaction up for the domains' search queries (see above)."""
    await session.execute(_TUNE, {"threshold": FORGIVING if forgiving else STRICT})


def count(answers: Sequence[Sequence[object]]) -> int:
    """How many hits (or suggestions) the answers of all the domains hold."""
    return sum(len(a) for a in answers)
