"""Misspelt queries: corrected against the dictionary of the catalogue's words, and said so."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gullak import worker
from gullak.db.engine import Database
from gullak.discovery import jobs, service, spelling
from tests.helpers.discovery import World, build_world, names, search

BIRYANI = {"blues", "paradise", "chicken", "veg", "hyderabadi", "flat20"}


@pytest.fixture
async def dictionary(session: AsyncSession, world: World) -> set[str]:
    await service.refresh_terms(session)
    return set((await session.scalars(text("SELECT term FROM search_terms"))).all())


async def test_the_dictionary_holds_the_words_of_what_can_be_found(dictionary: set[str]) -> None:
    assert {"biryani", "paradise", "blues", "hyderabadi", "masala", "chai", "point",
            "samosa", "free", "every"} <= dictionary
    # Not live, so not searchable: its words are not suggested either.
    assert "pending" not in dictionary and "house" not in dictionary
    # Short words and numbers are never corrected, so never kept.
    assert not {"veg", "off", "on", "20"} & dictionary


@pytest.mark.parametrize("typed", ["biryni", "biyrani", "biryanni", "BIRYAANI"])
async def test_a_misspelt_word_is_corrected_and_the_answer_says_so(
        client: httpx.AsyncClient, world: World, dictionary: set[str], typed: str) -> None:
    body = await search(client, q=typed)
    assert body["query"] == typed and body["corrected_query"] == "biryani"
    assert set(names(body, world)) == BIRYANI


async def test_a_word_spelt_right_is_never_corrected(client: httpx.AsyncClient, world: World,
                                                     dictionary: set[str]) -> None:
    body = await search(client, q="biryani")
    assert body["corrected_query"] is None and set(names(body, world)) == BIRYANI


async def test_words_found_apart_are_found_when_never_together(
        client: httpx.AsyncClient, world: World, dictionary: set[str]) -> None:
    body = await search(client, q="samosa hyderabadi")
    assert {"free_chai", "hyderabadi"} <= set(names(body, world))
    assert body["corrected_query"] is None


async def test_a_correction_and_any_word_together(client: httpx.AsyncClient, world: World,
                                                   dictionary: set[str]) -> None:
    body = await search(client, q="samosaa hyderabadi")
    assert body["corrected_query"] == "samosa hyderabadi"
    assert {"free_chai", "hyderabadi"} <= set(names(body, world))


async def test_only_close_words_are_corrections(session: AsyncSession,
                                                dictionary: set[str]) -> None:
    assert await spelling.correct(session, "Paradize Biryni") == "paradise biryani"
    assert await spelling.correct(session, "biryani chai") is None  # nothing misspelt
    assert await spelling.correct(session, "xqzvw") is None  # nothing close
    assert await spelling.correct(session, "byr") is None  # too short to correct
    # Two slips in a long word are forgiven, five are another word.
    assert await spelling.correct(session, "hiderbaadi") == "hyderabadi"
    assert await spelling.correct(session, "haidarabaad") is None


@pytest.mark.parametrize(("a", "b", "edits"), [
    ("golden", "golden", 0), ("gloden", "golden", 1), ("biryni", "biryani", 1),
    ("biryanni", "biryani", 1), ("kitten", "sitting", 3), ("", "ab", 2), ("ab", "ba", 1),
    ("ca", "abc", 3),
])
def test_edit_distance_counts_a_swap_as_one_edit(a: str, b: str, edits: int) -> None:
    assert spelling.distance(a, b) == edits == spelling.distance(b, a)


async def test_the_job_rebuilds_the_dictionary_from_committed_names(
        fresh_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    async with fresh_db.sessionmaker() as session, session.begin():
        await build_world(session)
    monkeypatch.setattr(worker, "_db", fresh_db)
    first = await jobs.refresh_terms(timestamp=0)
    assert first > 0
    async with fresh_db.sessionmaker() as session, session.begin():
        await session.execute(text("UPDATE products SET name = 'Kulfi Falooda'"
                                   " WHERE name = 'Masala Chai'"))
    # "kulfi" and "falooda" come; "masala" was only in the renamed product's name and goes.
    assert await jobs.refresh_terms(timestamp=0) == first + 1
    async with fresh_db.engine.connect() as conn:
        terms = set((await conn.scalars(text("SELECT term FROM search_terms"))).all())
    assert {"kulfi", "falooda", "chai"} <= terms and "masala" not in terms
