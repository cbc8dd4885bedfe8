"""Citus readiness: every table of the migrated schema has a place in a distributed Gullak.

Each table is distributed (by a column, in a co-location group: rows with the same value live
on the same node), a reference table (small, copied to every node), or local (stays on the
coordinator). Tables of a user are distributed by `user_id`; a few belong to a user by another
column (`users.id`, `auth_sessions.subject_id`). docs/distribution.md says why each is where it
is. A new table must be placed here, or this test fails.

Citus's rules checked here: a distributed table's column is never NULL; a foreign key between
distributed tables joins their distribution columns within one group; a distributed table may
reference a reference table but nothing local; a reference table references only reference
tables; a local table references no distributed table.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

USER = "user"  # the co-location group of everything a user owns, keyed by the user's id

DISTRIBUTED: dict[str, tuple[str, str]] = {  # table: (distribution column, group)
    "users": ("id", USER),
    "auth_sessions": ("subject_id", USER),  # admins' and merchant users' sessions too
    "addresses": ("user_id", USER),
    "devices": ("user_id", USER),
    "kyc_records": ("user_id", USER),
    "step_up_uses": ("user_id", USER),
    "social_accounts": ("user_id", USER),
    "merchant_reviews": ("user_id", USER),
    "merchant_review_flags": ("user_id", USER),
    "offer_redemptions": ("user_id", USER),
    "offer_saves": ("user_id", USER),
    "offer_shares": ("user_id", USER),
    "offer_user_redemptions": ("user_id", USER),
    "orders": ("user_id", USER),
    "order_items": ("user_id", USER),
    "order_tenders": ("user_id", USER),
    "order_events": ("user_id", USER),
    "payments": ("user_id", USER),
    "payment_attempts": ("user_id", USER),
    "payment_refunds": ("user_id", USER),
    "voucher_redemptions": ("user_id", USER),
    "partner_links": ("user_id", USER),
    "partner_orders": ("user_id", USER),
    "partner_events": ("user_id", USER),
    "partner_deliveries": ("user_id", USER),
    "loyalty_activity": ("user_id", USER),
    "user_loyalty": ("user_id", USER),
    "loyalty_tier_changes": ("user_id", USER),
    "user_streaks": ("user_id", USER),
    "user_achievements": ("user_id", USER),
    "prive_subscriptions": ("user_id", USER),
    "prive_payments": ("user_id", USER),
    "rewards": ("user_id", USER),
    "reward_usage": ("user_id", USER),
    "reward_user_stats": ("user_id", USER),
    "reward_debts": ("user_id", USER),
    "reward_evaluations": ("user_id", USER),
    "reward_campaign_users": ("user_id", USER),
    "reward_segment_members": ("user_id", USER),
    "reward_app_events": ("user_id", USER),
    "referrals": ("referee_id", USER),  # a referral is the referee's: one per referee
    "referral_risk_events": ("user_id", USER),
    "user_colleges": ("user_id", USER),
    "student_ambassadors": ("user_id", USER),
    "step_records": ("user_id", USER),
    "daily_step_summary": ("user_id", USER),
    "step_validations": ("user_id", USER),
    "step_devices": ("user_id", USER),
    "challenge_participants": ("user_id", USER),
    "notifications": ("user_id", USER),
    "notification_deliveries": ("user_id", USER),
    "notification_preferences": ("user_id", USER),
    "support_tickets": ("user_id", USER),
    "support_messages": ("user_id", USER),
    "support_attachments": ("user_id", USER),
    "campaign_recipients": ("user_id", USER),
    "experiment_assignments": ("user_id", USER),
    "campaign_conversions": ("user_id", USER),
    "risk_events": ("user_id", USER),
    "risk_blocks": ("user_id", USER),
    "risk_sign_in_places": ("user_id", USER),
    "user_daily_summaries": ("user_id", USER),
    # Boards fan out under Citus: each shard answers its top N and its count above a score.
    "leaderboard_entries": ("user_id", USER),
    "leaderboard_snapshots": ("user_id", USER),
    "engagement_members": ("user_id", USER),
    "follows": ("follower_id", USER),  # one's follows live with one; followers fan out
    # Logs of visitors who may not be signed in (user_id NULL): spread by their own id.
    "search_queries": ("id", "search"),
    "search_clicks": ("query_id", "search"),
    "offer_clicks": ("id", "offer_clicks"),
    "offer_views": ("id", "offer_views"),
}

REFERENCE = {
    "ledger_assets", "categories", "merchants", "merchant_outlets", "merchant_commissions",
    "offers", "products", "product_variants", "product_images", "catalog_events",
    "permissions", "roles", "role_permissions", "app_settings", "feature_flags", "cms_pages",
    "seo_redirects", "search_terms", "popular_searches",
    # Gift cards sold as products, and vouchers, read by every node that takes a redemption.
    "gift_card_designs", "vouchers",
    "payment_methods",  # the ways to pay checkout offers: a handful, read by every checkout
    "partners",  # partner companies: few, named by every partner order's row
    # Programme terms every evaluation reads: tiers, plans, achievements, rules, networks.
    "loyalty_tiers", "prive_plans", "prive_merchants", "achievements", "reward_rules",
    "reward_rule_versions", "reward_campaigns", "cashback_networks", "referral_programs",
    "referral_tiers", "colleges",
    "challenges",  # a handful open at a time, read by every participant's standings
    "leaderboards",  # the register of boards, a few per period and scope
    "bank_channels",  # the banks and e-wallets payouts reach: a few dozen
    # What the back office writes to talk to users: templates, canned replies, segments and
    # the campaigns on them, named by every user's notification, message or recipient row.
    "notification_templates", "support_canned_replies", "campaign_segments",
    "notification_campaigns", "campaign_variants",
}

LOCAL = {
    # The ledger stays on one node until its rows carry their owner (docs/distribution.md).
    "ledger_accounts", "ledger_balances", "ledger_transfers", "ledger_holds", "ledger_hold_lots",
    "ledger_lots", "ledger_spend", "ledger_idempotency",
    "ledger_checks",  # the results of the ledger's checks: a row a run, read by the console
    # The back office, merchants' operations, stock, sign-in before a user exists, jobs.
    "admin_users", "admin_roles", "admin_departments", "departments", "api_keys", "audit_log",
    "console_sessions",
    "merchant_users", "merchant_documents", "merchant_bank_accounts", "product_feed_sources",
    "product_feed_imports", "inventory", "inventory_reservations", "otp_codes", "sms_outbox",
    "rate_limits", "seed_runs", "alembic_version", "procrastinate_jobs", "procrastinate_events",
    "procrastinate_periodic_defers", "procrastinate_workers",
    # A card is found by its code before anyone knows whose it is; most have no owner yet.
    "gift_cards", "gift_card_batches",
    # A provider's events arrive before anyone knows whose payment they are about.
    "gateway_events", "gateway_event_keys", "payment_sandbox_orders",
    # A network's conversion arrives before anyone knows whose it is (unmatched clicks).
    "cashbacks", "cashback_events",
    # Counts of a board's scores per bucket, summed for a rank: a few hundred rows a board,
    # each in up to eight shards.
    "leaderboard_score_buckets",
    # Money out: owned by users and merchants alike, every step a ledger hold or capture
    # beside the (local) ledger, a queue the back office reads across owners, a few rows per
    # owner a month; providers' callbacks arrive before anyone knows whose payout they are.
    "payout_methods", "withdrawals", "withdrawal_decisions", "disbursements", "payout_events",
    "payout_sandbox", "settlements", "settlement_lines",
    # What a sandbox would have sent: a developer's view, not a user's data.
    "sandbox_push_outbox", "sandbox_email_outbox",
    # What users and the system did, partitioned by month: system events have no user, and
    # its months are dropped whole. Summaries across users are read by the back office.
    "activity_events", "analytics_stale_days", "merchant_daily_summaries",
    "offer_daily_summaries", "platform_daily_summaries",
    "warehouse_exports",  # the run log of exports: the back office's, a few rows a day
}

# Foreign keys that cross users today, with what distribution would do about them. Pinned
# exactly: a new one fails the test, and so does one fixed but still listed.
CROSSING_USERS = {
    ("users", "referred_by_id"): "the referrer is another user: kept as a plain column",
    ("merchant_review_flags", "review_id"): "the review is another user's: the flag would carry"
                                            " the review's user_id and reference both columns",
    ("referral_risk_events", "referral_id"): "a risk event may be the referrer's, about the"
                                             " referee's referral: kept as a plain column",
}

TABLES = text("""
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition
""")
COLUMNS = text("""
SELECT c.relname, a.attname, a.attnotnull
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND a.attnum > 0 AND NOT a.attisdropped
""")
FOREIGN_KEYS = text("""
SELECT f.conname, src.relname, dst.relname,
       array(SELECT a.attname FROM unnest(f.conkey) WITH ORDINALITY k(n, i)
             JOIN pg_attribute a ON a.attrelid = f.conrelid AND a.attnum = k.n ORDER BY k.i),
       array(SELECT a.attname FROM unnest(f.confkey) WITH ORDINALITY k(n, i)
             JOIN pg_attribute a ON a.attrelid = f.confrelid AND a.attnum = k.n ORDER BY k.i)
FROM pg_constraint f JOIN pg_class src ON src.oid = f.conrelid
JOIN pg_class dst ON dst.oid = f.confrelid JOIN pg_namespace n ON n.oid = src.relnamespace
WHERE f.contype = 'f' AND n.nspname = current_schema() AND NOT src.relispartition
""")


def kind(table: str) -> str:
    return "distributed" if table in DISTRIBUTED else "reference" if table in REFERENCE \
        else "local"


def fk_problem(src: str, dst: str, cols: list[str], ref_cols: list[str]) -> str | None:
    """Why Citus would refuse this foreign key, or None."""
    if kind(src) == "distributed" and kind(dst) == "distributed":
        (column, group), (ref_column, ref_group) = DISTRIBUTED[src], DISTRIBUTED[dst]
        if group != ref_group:
            return f"{src} and {dst} are in different groups"
        if (column, ref_column) not in zip(cols, ref_cols, strict=True):
            return f"{src}.{cols} -> {dst}.{ref_cols} misses {column} -> {ref_column}"
        return None
    allowed = {"distributed": {"reference"}, "reference": {"reference"},
               "local": {"reference", "local"}}[kind(src)]
    return None if kind(dst) in allowed else f"a {kind(src)} table references a {kind(dst)} one"


async def test_every_table_is_placed_once(connection: AsyncConnection) -> None:
    tables = set((await connection.execute(TABLES)).scalars())
    placed = [*DISTRIBUTED, *REFERENCE, *LOCAL]
    assert len(placed) == len(set(placed)), "a table is placed twice"
    assert not tables - set(placed), f"place these tables in {__name__}: {tables - set(placed)}"
    assert not set(placed) - tables, f"no such tables any more: {set(placed) - tables}"


async def test_tables_of_users_carry_their_user(connection: AsyncConnection) -> None:
    columns = {(t, c): not_null for t, c, not_null in await connection.execute(COLUMNS)}
    for table, (column, _) in DISTRIBUTED.items():
        assert columns.get((table, column)) is True, f"{table}.{column} must exist, NOT NULL"
    # A row with a user, a table of users: distributed by user_id, or placed with a reason.
    owned = {t for (t, c), not_null in columns.items() if c == "user_id" and not_null}
    by_user = {t for t, (column, group) in DISTRIBUTED.items() if group == USER}
    assert owned <= {t for t in by_user if DISTRIBUTED[t][0] == "user_id"}, owned - by_user
    assert {t for t in by_user if DISTRIBUTED[t][0] == "user_id"} <= owned


async def test_no_foreign_key_stops_distribution(connection: AsyncConnection) -> None:
    problems = {}
    for _name, src, dst, cols, ref_cols in await connection.execute(FOREIGN_KEYS):
        problem = fk_problem(src, dst, list(cols), list(ref_cols))
        if problem:
            problems[(src, ",".join(cols))] = problem
    assert problems.keys() == CROSSING_USERS.keys(), problems


def test_the_rules_refuse_what_citus_refuses() -> None:
    # Between users without the user in the key, across groups, distributed to local, and a
    # reference table pointing at a user's rows.
    assert fk_problem("merchant_review_flags", "merchant_reviews", ["review_id"], ["id"])
    assert fk_problem("search_clicks", "users", ["query_id"], ["id"])
    assert fk_problem("addresses", "ledger_accounts", ["user_id"], ["owner_id"])
    assert fk_problem("merchants", "users", ["owner_id"], ["id"])
    assert fk_problem("ledger_accounts", "users", ["owner_id"], ["id"])
    assert fk_problem("addresses", "users", ["user_id"], ["id"]) is None
    assert fk_problem("offer_saves", "offers", ["offer_id"], ["id"]) is None
    assert fk_problem("search_clicks", "search_queries", ["query_id"], ["id"]) is None
