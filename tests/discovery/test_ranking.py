"""Merging the domains' answers: one scale for every kind, typos forgiven, no duplicates."""

from __future__ import annotations

import uuid

from gullak.discovery.ranking import (
    merge_hits,
    merge_suggestions,
    normalize,
    similarity,
    title_match,
)
from gullak.kit.search import SearchHit, Suggestion


def hit(kind: str, title: str, score: float) -> SearchHit:
    return SearchHit(kind=kind, id=uuid.uuid4(), title=title, score=score)  # type: ignore[arg-type]


def test_title_match_orders_exact_prefix_words_typo_and_miss() -> None:
    scores = [title_match("pizza hut", t) for t in
              ("Pizza Hut", "Pizza Hut Express", "Hut of Pizza", "Piza Hutt", "Burger King")]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] == 1.0 and scores[-1] < 0.2 < scores[3]


def test_similarity_is_pg_trgm_similarity() -> None:
    # pg_trgm: similarity('word', 'wrd') = 0.2857 (2 shared trigrams of 7).
    assert round(similarity("word", "wrd"), 4) == 0.2857
    assert similarity("biryani", "biryani") == 1.0


def test_normalize_collapses_spaces_and_drops_control_characters() -> None:
    assert normalize("  Ｐizza\t\x00 hut \n") == "Pizza hut"
    assert normalize(" \x07 ") is None
    assert normalize(None) is None


def test_exact_name_beats_a_domain_that_scores_itself_higher() -> None:
    merchant = hit("merchant", "Biryani Blues", 0.1)
    product = hit("product", "Chicken biryani with raita and salan", 9.0)
    merged = merge_hits("biryani blues", [[product], [merchant]], 10)
    assert [h for _, h in merged] == [merchant, product]
    assert merged[0][0] > merged[1][0]


def test_merge_keeps_each_domain_order_dedupes_and_cuts_at_the_limit() -> None:
    products = [hit("product", f"Masala dosa {i}", 10.0 - i) for i in range(5)]
    twice = products[0]
    merged = merge_hits("masala dosa", [products, [twice]], 3)
    assert [h for _, h in merged] == products[:3]


def test_without_text_the_domain_order_decides() -> None:
    offers = [hit("offer", "B", 0.0), hit("offer", "A", 0.0)]
    merged = merge_hits(None, [offers], 10)
    assert [h for _, h in merged] == offers


def test_suggestions_prefer_an_entity_over_the_same_popular_search() -> None:
    merchant = Suggestion(kind="merchant", id=uuid.uuid4(), text="Pizza Hut", score=0.2)
    other = Suggestion(kind="product", id=uuid.uuid4(), text="Pizza Margherita", score=0.9)
    merged = merge_suggestions("pizza", [[merchant, other]], [("pizza hut", 40), ("pizza", 90)],
                               10)
    texts = [(item.text if isinstance(item, Suggestion) else item) for _, item in merged]
    assert texts.count("Pizza Hut") == 1 and "pizza hut" not in texts
    kept = next(item for _, item in merged if isinstance(item, Suggestion)
                and item.text == "Pizza Hut")
    assert kept is merchant
    assert "pizza" in texts  # a popular search of its own stays
    assert [s for s, _ in merged] == sorted((s for s, _ in merged), reverse=True)
