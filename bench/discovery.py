"""`gullak bench discovery`: search, autocomplete and nearby latency over a large catalog.

A scratch database (gullak_bench_<random>) is created on the server of the given URL, migrated
to head, filled with 10,000 merchants, 50,000 outlets, 100,000 products and 50,000 offers
(times --scale) by bulk SQL, analysed, and dropped at the end, whatever happens: a user's data
is never touched. The catalog is written straight into the merchants, catalog and offers
tables (generate_series over word lists, cities and coordinates around six Indian cities), as
the domains' own import paths would take minutes for it; every query is then timed through
the discovery service, exactly as the API runs it: one unit of work per query, the query
logged and committed, the caches off (a cached answer would time the cache, not the search).
bench/README.md explains each figure.
"""

from __future__ import annotations

import asyncio
import json
import random
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import psycopg
from rich.console import Console
from rich.table import Table
from sqlalchemy import text

from gullak.db import embedded, migrate
from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.discovery import service
from gullak.discovery.schemas import NearbyParams, SearchParams
from gullak.kit import clock

FULL = {"merchants": 10_000, "outlets": 50_000, "products": 100_000, "offers": 50_000}
TARGETS_MS = {"search_p99_ms": 50.0, "autocomplete_p99_ms": 20.0, "nearby_p99_ms": 20.0}
WARMUP = 20  # queries of each kind before timing: plans cached, pages in memory
RADIUS_M = 5000.0
SEED = 20261122

# name: (latitude, longitude, spread of outlets in degrees, about 1 degree = 111 km)
CITIES = {
    "Mumbai": (19.0760, 72.8777, 0.12),
    "Bengaluru": (12.9716, 77.5946, 0.12),
    "Delhi": (28.6139, 77.2090, 0.15),
    "Hyderabad": (17.3850, 78.4867, 0.12),
    "Chennai": (13.0827, 80.2707, 0.10),
    "Pune": (18.5204, 73.8567, 0.08),
}
OWNERS = ["Sharma", "Gupta", "Iyer", "Reddy", "Patel", "Khan", "Singh", "Mehta", "Nair",
          "Das", "Joshi", "Kapoor", "Malhotra", "Agarwal", "Banerjee", "Pillai", "Rao",
          "Chopra", "Bhat", "Verma", "Royal", "Golden", "Green", "Urban", "Classic", "Lucky",
          "Shree", "New", "Famous", "Happy"]
TRADES = ["Sweets", "Biryani", "Dosa", "Chai", "Pizza", "Bakery", "Kitchen", "Cafe",
          "Electronics", "Mobiles", "Fashion", "Footwear", "Pharmacy", "Grocery", "Salon",
          "Spa", "Opticals", "Jewellers", "Books", "Toys", "Fitness", "Dhaba", "Tandoor",
          "Momos", "Juice", "Creamery", "Kulfi", "Paratha", "Chaat", "Thali"]
SUFFIXES = ["House", "Corner", "Point", "Hub", "Express", "Palace", "Centre", "Store",
            "Mart", "Junction", "World", "Studio", "Bazaar", "Co", "Galaxy"]
ADJECTIVES = ["Spicy", "Classic", "Crispy", "Fresh", "Royal", "Masala", "Butter", "Paneer",
              "Chicken", "Veg", "Special", "Premium", "Mini", "Family", "Jumbo", "Tandoori",
              "Hyderabadi", "Mysore", "Kolkata", "Punjabi", "Organic", "Cold", "Hot",
              "Double", "Cheese"]
ITEMS = ["Biryani", "Dosa", "Idli", "Samosa", "Pizza", "Burger", "Sandwich", "Thali",
         "Lassi", "Coffee", "Tea", "Cake", "Pastry", "Momos", "Noodles", "Kebab", "Paratha",
         "Kulfi", "Juice", "Shake", "Headphones", "Charger", "Sneakers", "Kurta", "Saree",
         "Sunglasses", "Perfume", "Shampoo", "Notebook", "Backpack", "Watch", "Earrings",
         "Haircut", "Facial", "Massage", "Protein Bar", "Yoga Mat", "Water Bottle",
         "Chocolate", "Cookies"]
DEALS = ["Flat {n}% off on", "Buy 1 Get 1 on", "Free dessert with", "{n}% cashback on",
         "Happy hours:", "Weekend special:", "Combo deal:", "Festive sale:"]
TAGS = ["veg", "non-veg", "family", "budget", "premium", "delivery", "takeaway", "wifi",
        "parking", "late-night", "kids", "healthy", "street-food", "dessert", "gifts"]
TYPES = ["discount_percent", "discount_fixed", "bogo", "freebie", "cashback", "deal", "sale"]

err = Console(stderr=True)


def main(url: str, *, queries: int, scale: float, json_out: bool) -> None:
    """Build the catalog in a scratch database on `url`'s server, time the queries, print."""
    if queries < 1 or not 0 < scale <= 10:
        raise SystemExit("queries must be positive and scale between 0 and 10")
    admin = embedded.libpq_url(url)
    name = f"gullak_bench_{secrets.token_hex(4)}"
    err.print(f"[dim]scratch database {name} (dropped at the end)[/dim]")
    embedded.ensure_database(admin, name)
    try:
        bench_url = embedded.with_database(admin, name)
        with err.status("migrating the scratch database"):
            migrate.upgrade(bench_url)
        counts = {k: max(1, round(v * scale)) for k, v in FULL.items()}
        started = time.perf_counter()
        build(bench_url, counts)
        build_seconds = time.perf_counter() - started
        results = asyncio.run(measure(bench_url, queries))
    finally:
        with err.status(f"dropping {name}"):
            embedded.drop_database(admin, name)
    results.update(build_seconds=round(build_seconds, 1), queries=queries, **counts)
    if json_out:
        print(json.dumps(results, separators=(",", ":")))
    else:
        print_table(results)


# -- the catalog ------------------------------------------------------------------------------

HOURS = ('{"mon":[{"open":"09:00","close":"22:00"}],"tue":[{"open":"09:00","close":"22:00"}],'
         '"wed":[{"open":"09:00","close":"22:00"}],"thu":[{"open":"09:00","close":"22:00"}],'
         '"fri":[{"open":"09:00","close":"23:00"}],"sat":[{"open":"10:00","close":"23:00"}],'
         '"sun":[{"open":"10:00","close":"21:00"}]}')
# The same hours as minutes since Monday 00:00, as the merchants domain keeps them.
OPEN_MINUTES = "{" + ",".join(
    f"[{day * 1440 + start},{day * 1440 + end})"
    for day, (start, end) in enumerate([(540, 1320)] * 4 + [(540, 1380), (600, 1380),
                                                            (600, 1260)])) + "}"

# Every random pick is `arr[1 + floor(random() * n)]`; setseed makes a run repeatable.
PICK = "(%(arr)s::text[])[1 + floor(random() * cardinality(%(arr)s::text[]))::int]"

MERCHANTS_SQL = """
INSERT INTO merchants (id, name, slug, description, city, tags, tags_text, status, live_at,
                       rating_sum, rating_count, rating_avg)
SELECT gen_random_uuid(), name, lower(regexp_replace(name, '[^A-Za-z0-9]+', '-', 'g')) || '-' || g,
       trade || ' in ' || city || ': ' || array_to_string(tags, ', '), city, tags,
       array_to_string(tags, ' '), status, now(), round(rating * votes)::bigint, votes,
       CASE WHEN votes = 0 THEN 0 ELSE rating END
FROM (
    SELECT g, city, trade, {owner} || ' ' || trade || ' ' || {suffix} AS name,
           ARRAY[{tag}, {tag}] AS tags,
           CASE WHEN random() < 0.95 THEN 'live' ELSE 'pending' END AS status,
           round((2.5 + random() * 2.5)::numeric, 2) AS rating,
           floor(random() * 400)::bigint AS votes
    FROM (SELECT g, (%(cities)s::text[])[1 + g %% cardinality(%(cities)s::text[])] AS city,
                 {trade} AS trade
          FROM generate_series(1, %(n)s) AS g) AS picked
) AS m
""".format(tag=PICK.replace("arr", "tags"), owner=PICK.replace("arr", "owners"),
           trade=PICK.replace("arr", "trades"), suffix=PICK.replace("arr", "suffixes"))

OUTLETS_SQL = """
INSERT INTO merchant_outlets (id, merchant_id, name, address, city, latitude, longitude,
                              timezone, hours, features, open_minutes, active)
SELECT gen_random_uuid(), m.id, m.name || ' ' || o.n, o.n || ' Main Road, ' || m.city, m.city,
       c.lat + (random() + random() - 1) * c.spread, c.lng + (random() + random() - 1) * c.spread,
       'Asia/Kolkata', %(hours)s::jsonb, ARRAY[{tag}], %(open_minutes)s::int4multirange, true
FROM (SELECT id, name, city, row_number() OVER (ORDER BY id) AS rn FROM merchants) AS m
JOIN (SELECT * FROM unnest(%(cities)s::text[], %(lats)s::float8[], %(lngs)s::float8[],
                           %(spreads)s::float8[]) AS u(city, lat, lng, spread)) AS c
  ON c.city = m.city
CROSS JOIN LATERAL generate_series(1, %(per)s + CASE WHEN m.rn <= %(extra)s THEN 1 ELSE 0 END)
    AS o(n)
""".format(tag=PICK.replace("arr", "tags"))

PRODUCTS_SQL = """
INSERT INTO products (id, merchant_id, sku, slug, name, description, price, original_price,
                      tags, city, status)
SELECT gen_random_uuid(), m.id, 'SKU-' || m.rn || '-' || p.n, 'p-' || m.rn || '-' || p.n,
       x.name, x.name || ' from ' || m.name || ', ' || m.city, x.price,
       x.price + (x.price * random() * 0.4)::bigint, ARRAY[{tag}], m.city, 'active'
FROM (SELECT id, name, city, row_number() OVER (ORDER BY id) AS rn FROM merchants) AS m
CROSS JOIN LATERAL generate_series(1, %(per)s + CASE WHEN m.rn <= %(extra)s THEN 1 ELSE 0 END)
    AS p(n)
CROSS JOIN LATERAL (SELECT p.n, {adj} || ' ' || {item} AS name,
                           (2000 + floor(random() * 300000))::bigint AS price) AS x
""".format(tag=PICK.replace("arr", "tags"), adj=PICK.replace("arr", "adjectives"),
           item=PICK.replace("arr", "items"))

OFFERS_SQL = """
INSERT INTO offers (id, merchant_id, type, title, description, discount_kind, discount_value,
                    valid_from, valid_until, tags, keywords, cities, status, display_priority)
SELECT gen_random_uuid(), m.id, x.type,
       replace(x.deal, '{{n}}', x.pct::text) || ' ' || x.item || ' at ' || m.name,
       'Valid at every outlet of ' || m.name || ' in ' || m.city,
       CASE WHEN x.type IN ('discount_percent', 'cashback') THEN 'percent'
            WHEN x.type = 'discount_fixed' THEN 'fixed' END,
       CASE WHEN x.type IN ('discount_percent', 'cashback') THEN x.pct * 100
            WHEN x.type = 'discount_fixed' THEN 5000 END,
       now() - interval '1 day', now() + interval '30 days', ARRAY[x.tag], x.tag,
       ARRAY[lower(m.city)], 'active', 0
FROM (SELECT id, name, city, row_number() OVER (ORDER BY id) AS rn FROM merchants
      WHERE status = 'live') AS m
CROSS JOIN LATERAL generate_series(1, %(per)s + CASE WHEN m.rn <= %(extra)s THEN 1 ELSE 0 END)
    AS o(n)
CROSS JOIN LATERAL (SELECT o.n, {type} AS type, {deal} AS deal, {item} AS item, {tag} AS tag,
                           (5 + floor(random() * 10) * 5)::int AS pct) AS x
""".format(tag=PICK.replace("arr", "tags"), type=PICK.replace("arr", "types"),
           deal=PICK.replace("arr", "deals"), item=PICK.replace("arr", "items"))


def build(url: str, counts: dict[str, int]) -> None:
    words = {"cities": list(CITIES), "owners": OWNERS, "trades": TRADES, "suffixes": SUFFIXES,
             "tags": TAGS, "adjectives": ADJECTIVES, "items": ITEMS, "deals": DEALS,
             "types": TYPES, "lats": [c[0] for c in CITIES.values()],
             "lngs": [c[1] for c in CITIES.values()],
             "spreads": [c[2] for c in CITIES.values()],
             "hours": HOURS, "open_minutes": OPEN_MINUTES}
    merchants = counts["merchants"]
    live = None
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT setseed(%s)", (0.42,))
        steps: list[tuple[str, str, dict[str, Any]]] = [
            ("merchants", MERCHANTS_SQL, {"n": merchants}),
            ("outlets", OUTLETS_SQL, per_merchant(counts["outlets"], merchants)),
            ("products", PRODUCTS_SQL, per_merchant(counts["products"], merchants)),
        ]
        for name, sql, params in steps:
            timed_step(name, lambda s=sql, p=params: conn.execute(s, {**words, **p}))
        live = conn.execute("SELECT count(*) FROM merchants WHERE status = 'live'").fetchone()
        offers = per_merchant(counts["offers"], int(live[0]) if live else merchants)
        timed_step("offers", lambda: conn.execute(OFFERS_SQL, {**words, **offers}))
        timed_step("vacuum", lambda: conn.execute(
            "VACUUM (ANALYZE) merchants, merchant_outlets, products, offers"))
        for table in ("merchants", "merchant_outlets", "products", "offers"):
            row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
            counts[table.removeprefix("merchant_")] = int(row[0]) if row else 0


def per_merchant(total: int, merchants: int) -> dict[str, int]:
    """`total` rows over `merchants`: `per` each, one more for the first `extra`."""
    per, extra = divmod(total, max(1, merchants))
    return {"per": per, "extra": extra}


def timed_step(name: str, run: Callable[[], Any]) -> None:
    started = time.perf_counter()
    with err.status(f"building {name}"):
        run()
    err.print(f"  {name:<10} {time.perf_counter() - started:6.1f} s")


# -- the queries ------------------------------------------------------------------------------

def typo(word: str, rng: random.Random) -> str:
    """One edit a thumb makes: a letter dropped, doubled or swapped with the next."""
    if len(word) < 5:
        return word
    i = rng.randrange(1, len(word) - 2)
    edit = rng.choice(("drop", "double", "swap"))
    if edit == "drop":
        return word[:i] + word[i + 1:]
    if edit == "double":
        return word[:i] + word[i] + word[i:]
    return word[:i] + word[i + 1] + word[i] + word[i + 2:]


def search_texts(n: int, rng: random.Random) -> list[SearchParams]:
    vocabulary = OWNERS + TRADES + ADJECTIVES + ITEMS
    out = []
    for _ in range(n):
        words = [rng.choice(vocabulary)]
        if rng.random() < 0.4:
            words.append(rng.choice(ITEMS))
        text = " ".join(w.lower() for w in words)
        if rng.random() < 0.25:
            text = " ".join(typo(w, rng) for w in text.split())
        city = rng.choice(list(CITIES)) if rng.random() < 0.5 else None
        out.append(SearchParams(q=text, city=city, limit=20))
    return out


def prefixes(n: int, rng: random.Random) -> list[tuple[str, str | None]]:
    vocabulary = OWNERS + TRADES + ITEMS
    out = []
    for _ in range(n):
        word = rng.choice(vocabulary).lower()
        out.append((word[:rng.randint(2, min(6, len(word)))],
                    rng.choice(list(CITIES)) if rng.random() < 0.2 else None))
    return out


def points(n: int, rng: random.Random) -> list[NearbyParams]:
    out = []
    for _ in range(n):
        lat, lng, spread = rng.choice(list(CITIES.values()))
        out.append(NearbyParams(lat=lat + rng.uniform(-spread, spread),
                                lng=lng + rng.uniform(-spread, spread), radius_m=RADIUS_M,
                                limit=20))
    return out


async def measure(url: str, queries: int) -> dict[str, Any]:
    rng = random.Random(SEED)
    for cache in (service.results_cache, service.suggestions_cache, service.popular_cache):
        cache.enabled = False
    db = Database(url, pool_size=2, max_overflow=0)
    anonymous = service.Searcher()
    try:
        async def search(p: SearchParams) -> int:
            async with unit_of_work(db) as session:
                return (await service.search(session, p, anonymous)).count

        async def suggest(p: tuple[str, str | None]) -> int:
            async with unit_of_work(db) as session:
                return len((await service.autocomplete(session, p[0], p[1], 8)).suggestions)

        async def near(p: NearbyParams) -> int:
            async with unit_of_work(db) as session:
                return (await service.nearby(session, p, anonymous)).count

        async def noop(_: Any) -> int:
            async with unit_of_work(db) as session:
                return int(await session.scalar(text("SELECT 1")) or 0)

        results: dict[str, Any] = {}
        # The reference: a unit of work that only says SELECT 1, on the same server and
        # client, measured in the same run (a busy machine slows both alike).
        await record(results, "reference", noop, [None] * (queries + WARMUP))
        del results["reference_mean_hits"]
        texts, typed = search_texts(queries + WARMUP, rng), prefixes(queries + WARMUP, rng)
        # The spelling dictionary, as its job builds it every ten minutes.
        async with unit_of_work(db) as session:
            await service.refresh_terms(session)
        await record(results, "search", search, texts)
        # Autocomplete also reads popular searches: build them from the searches just made.
        async with unit_of_work(db) as session:
            await service.refresh_popular(session)
        await record(results, "autocomplete", suggest, typed)
        await record(results, "nearby", near, points(queries + WARMUP, rng))
        await by_domain(db, results, texts[:WARMUP + min(queries, 200)],
                        typed[:WARMUP + min(queries, 200)])
        return results
    finally:
        await db.dispose()


async def record(results: dict[str, Any], name: str, run: Callable[[Any], Awaitable[int]],
                 inputs: list[Any]) -> None:
    latencies, found = await timed(name, run, inputs)
    results[f"{name}_p50_ms"] = round(percentile(latencies, 50), 2)
    results[f"{name}_p99_ms"] = round(percentile(latencies, 99), 2)
    results[f"{name}_mean_hits"] = round(found / len(latencies), 1)
    err.print(f"  {name:<22} p50 {results[f'{name}_p50_ms']:7.2f} ms   "
              f"p99 {results[f'{name}_p99_ms']:7.2f} ms")


async def by_domain(db: Database, results: dict[str, Any], texts: list[SearchParams],
                    typed: list[tuple[str, str | None]]) -> None:
    """Each domain's share: its own search and autocomplete, as discovery first calls them
    (full text only; typos are corrected before any trigram matching)."""
    for kind in service.SEARCH_KINDS:
        source = service.SOURCES[kind]

        async def search(p: SearchParams, source: Any = source) -> int:
            async with unit_of_work(db) as session:
                await service.tune(session)
                query, _ = service.check_search(p, clock.now())
                return len(await source.search(session, replace(query, fuzzy=False)))

        async def suggest(p: tuple[str, str | None], source: Any = source) -> int:
            async with unit_of_work(db) as session:
                await service.tune(session)
                return len(await source.autocomplete(session, p[0], 8, p[1]))

        await record(results, f"{kind}_search", search, texts)
        await record(results, f"{kind}_autocomplete", suggest, typed)


async def timed(name: str, run: Callable[[Any], Awaitable[int]],
                inputs: list[Any]) -> tuple[list[float], int]:
    for item in inputs[:WARMUP]:
        await run(item)
    latencies: list[float] = []
    found = 0
    with err.status(f"timing {name}"):
        for item in inputs[WARMUP:]:
            started = time.perf_counter()
            found += await run(item)
            latencies.append((time.perf_counter() - started) * 1000)
    return latencies, found


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


def print_table(results: dict[str, Any]) -> None:
    table = Table(title=f"discovery: {results['merchants']:,} merchants, "
                        f"{results['outlets']:,} outlets, {results['products']:,} products, "
                        f"{results['offers']:,} offers; {results['queries']} queries each")
    for column in ("query", "p50 ms", "p99 ms", "target p99", "hits (mean)"):
        table.add_column(column, justify="left" if column == "query" else "right")
    for name in ("search", "autocomplete", "nearby"):
        p99 = results[f"{name}_p99_ms"]
        target = TARGETS_MS[f"{name}_p99_ms"]
        mark = "[green]ok[/green]" if p99 <= target else "[red]missed[/red]"
        table.add_row(name, f"{results[f'{name}_p50_ms']:.2f}", f"{p99:.2f}",
                      f"<= {target:g} {mark}", f"{results[f'{name}_mean_hits']:.1f}")
    Console().print(table)
    parts = Table(title="each domain's share (its own query, as discovery calls it)")
    for column in ("domain", "search p50", "search p99", "autocomplete p50",
                   "autocomplete p99"):
        parts.add_column(column, justify="left" if column == "domain" else "right")
    for kind in service.SEARCH_KINDS:
        parts.add_row(kind, *(f"{results[f'{kind}_{op}_{p}_ms']:.2f}"
                              for op in ("search", "autocomplete") for p in ("p50", "p99")))
    Console().print(parts)
    Console().print(f"reference (a unit of work doing SELECT 1): p50 "
                    f"{results['reference_p50_ms']:.2f} ms, p99 {results['reference_p99_ms']:.2f}"
                    f" ms; built in {results['build_seconds']} s")
