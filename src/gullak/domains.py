"""The one list of domains, in dependency order, and what each contributes.

The app, the worker and the CLI are all built from `DOMAINS`: adding a domain is adding one
entry here. Contributions are named as "module:attribute" inside the domain's package and
imported only when a process is built, so this module imports no domain at import time.

A domain may contribute:
- `models`: it has a `models.py` with tables (Alembic and the test schema check see them);
- `routers`: FastAPI routers in its `api.py`, mounted in this order;
- `jobs`: it has a `jobs.py` whose tasks the worker runs;
- `seed`: its `seed.py` has `DATA_SETS`, demo data sets that name the sets they need;
- `authenticators`: per `Authorization` scheme, a function that recognises credentials;
- `permissions`: per subject kind, a function that gives the subject's current permissions;
- `audit_writer` and `denial_hook`: where audited actions and refused permissions are kept;
- `lifespans`: async context managers, given the database, that each API process runs for as
  long as it serves (in-process work such as batched writes);
- `handlers`: per domain event name, a function that acts on it in the publisher's unit of
  work (`gullak.kit.events`);
- `purchase_check`: whether a user bought what an order id names at a merchant, for the
  reviews' verified purchase (`gullak.merchants.reviews`).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import MetaData


@dataclass(frozen=True)
class Domain:
    name: str
    package: str = ""  # default: gullak.<name>
    needs: tuple[str, ...] = ()  # domains whose service this one calls
    models: bool = True
    routers: tuple[str, ...] = ("api:router",)
    jobs: bool = False
    seed: bool = False
    authenticators: dict[str, str] = field(default_factory=dict)
    permissions: dict[str, str] = field(default_factory=dict)
    audit_writer: str | None = None
    denial_hook: str | None = None
    lifespans: tuple[str, ...] = ()
    handlers: dict[str, str] = field(default_factory=dict)
    purchase_check: str | None = None

    @property
    def path(self) -> str:
        return self.package or f"gullak.{self.name}"

    def module(self, name: str) -> Any:
        return importlib.import_module(f"{self.path}.{name}")

    def resolve(self, ref: str) -> Any:
        module, _, attribute = ref.partition(":")
        return getattr(self.module(module), attribute)


DOMAINS: tuple[Domain, ...] = (
    Domain("system", jobs=True),
    Domain("ledger", jobs=True, seed=True),
    Domain("identity", needs=("ledger",), jobs=True, seed=True,
           routers=("api:auth", "api:me", "api:admin"),
           authenticators={"bearer": "api:bearer"}),
    Domain("access", needs=("identity",), seed=True,
           authenticators={"basic": "api:basic"},
           permissions={"admin": "service:permissions_of"},
           audit_writer="service:write_audit", denial_hook="api:audit_denial",
           lifespans=("usage:recording_key_uses",)),
    Domain("merchants", needs=("identity",), jobs=True, seed=True,
           permissions={"merchant_user": "service:merchant_user_permissions"}),
    Domain("catalog", needs=("ledger", "merchants"), jobs=True, seed=True),
    Domain("offers", needs=("ledger", "identity", "merchants", "catalog"), jobs=True, seed=True),
    Domain("discovery", needs=("merchants", "catalog", "offers"), jobs=True, seed=True),
    Domain("payments", needs=("ledger", "identity"), jobs=True,
           routers=("api:router",),
           handlers={"order.status_changed": "service:order_status_changed"}),
    Domain("giftcards", needs=("ledger", "catalog"), jobs=True, seed=True),
    Domain("orders", needs=("ledger", "merchants", "catalog", "offers", "payments",
                            "giftcards"), jobs=True,
           seed=True, purchase_check="service:bought",
           handlers={"payment.succeeded": "flows:payment_succeeded",
                     "payment.failed": "flows:payment_failed"}),
    Domain("partners", needs=("identity", "orders"), jobs=True,
           routers=("api:router", "api:me", "api:admin"),
           authenticators={"basic": "api:basic"},
           handlers={"order.status_changed": "outbox:order_status_changed"}),
    Domain("loyalty", needs=("ledger", "identity", "merchants", "payments"), jobs=True,
           seed=True,
           handlers={"order.status_changed": "service:order_status_changed",
                     "payment.succeeded": "service:payment_succeeded",
                     "payment.failed": "service:payment_failed",
                     "reward.confirmed": "service:reward_confirmed"}),
    Domain("rewards", needs=("ledger", "identity", "merchants", "offers", "orders", "loyalty"),
           jobs=True, seed=True,
           handlers={"order.status_changed": "service:order_status_changed",
                     "order.refunded": "service:order_refunded",
                     "user.signed_up": "service:user_signed_up",
                     "achievement.unlocked": "service:achievement_unlocked",
                     "review.written": "service:review_written",
                     "user.profile_completed": "service:profile_completed"}),
    Domain("cashback", needs=("ledger", "identity", "merchants", "offers"), jobs=True,
           seed=True),
    Domain("referrals", needs=("ledger", "identity", "orders", "rewards"), jobs=True,
           seed=True,
           handlers={"user.signed_up": "service:user_signed_up",
                     "order.status_changed": "service:order_status_changed",
                     "payment.succeeded": "service:payment_succeeded"}),
    Domain("activity", needs=("ledger", "identity", "orders", "loyalty", "referrals"),
           jobs=True, seed=True),
    Domain("engagement", needs=("ledger", "identity", "referrals", "activity"), jobs=True,
           seed=True,
           handlers={"activity.steps_verified": "service:steps_verified",
                     "reward.confirmed": "service:reward_confirmed"}),
    Domain("payouts", needs=("ledger", "identity", "access", "merchants", "orders",
                             "giftcards"), jobs=True, seed=True,
           routers=("api:router", "settlement_api:router")),
    Domain("notifications", needs=("ledger", "identity", "access"), jobs=True, seed=True,
           handlers={"user.signed_in": "handlers:user_signed_in",
                     "reward.confirmed": "handlers:reward_confirmed",
                     "cashback.confirmed": "handlers:cashback_confirmed",
                     "order.status_changed": "handlers:order_status_changed",
                     "order.refunded": "handlers:order_refunded",
                     "withdrawal.paid": "handlers:withdrawal_paid",
                     "withdrawal.failed": "handlers:withdrawal_failed",
                     "withdrawal.reversed": "handlers:withdrawal_reversed",
                     "loyalty.tier_changed": "handlers:tier_changed",
                     "achievement.unlocked": "handlers:achievement_unlocked"}),
    Domain("support", needs=("ledger", "identity", "access", "offers", "orders", "payments",
                             "payouts", "notifications"), jobs=True, seed=True),
    Domain("analytics", needs=("ledger", "identity", "merchants", "offers", "orders",
                               "cashback", "payouts", "activity"), jobs=True, seed=True,
           handlers={name: "handlers:recorded" for name in (
               "user.signed_up", "user.signed_in", "order.status_changed",
               "payment.succeeded", "reward.confirmed",
               "withdrawal.paid", "loyalty.tier_changed", "review.written",
               "offer.redeemed")} | {name: "handlers:recorded_batch" for name in (
               "activity.steps_verified", "achievement.unlocked", "cashback.confirmed")}),
    Domain("campaigns", needs=("ledger", "identity", "access", "loyalty", "orders", "offers",
                               "notifications"), jobs=True, seed=True,
           handlers={"order.status_changed": "service:order_status_changed",
                     "offer.redeemed": "service:offer_redeemed"}),
    Domain("exports", needs=("ledger", "orders", "cashback", "payouts", "analytics"),
           jobs=True),
    Domain("risk", needs=("identity", "access", "offers", "referrals", "payouts"),
           handlers={"user.signed_up": "service:user_signed_up",
                     "user.signed_in": "service:user_signed_in",
                     "offer.redeemed": "service:offer_redeemed",
                     "withdrawal.requested": "service:withdrawal_requested"}),
    # Last: its pages show every domain above, through their services.
    Domain("console", needs=("ledger", "identity", "access", "merchants", "catalog", "offers",
                             "discovery", "payments", "giftcards", "orders", "loyalty",
                             "rewards", "cashback", "referrals", "activity", "engagement",
                             "payouts", "notifications", "support", "analytics", "campaigns",
                             "exports", "risk", "system"), jobs=True,
           routers=("api:router", "dashboard:router", "queues:router", "people:router",
                    "books:router", "supply:router", "growth:router", "portal:router", "api:fallback")),
)


Domains = tuple[Domain, ...]


def routers(domains: Domains = DOMAINS) -> list[Any]:
    return [d.resolve(ref) for d in domains for ref in d.routers]


def lifespans(domains: Domains = DOMAINS) -> list[Any]:
    return [d.resolve(ref) for d in domains for ref in d.lifespans]


def job_modules(domains: Domains = DOMAINS) -> list[str]:
    return [f"{d.path}.jobs" for d in domains if d.jobs]


def metadata(domains: Domains = DOMAINS) -> MetaData:
    """Every domain's tables, for Alembic and the schema check."""
    from gullak.db.base import Base

    for d in domains:
        if d.models:
            d.module("models")
    return Base.metadata


def data_sets(domains: Domains = DOMAINS) -> list[Any]:
    """Every domain's demo data sets, in no particular order: `gullak.seed` derives it."""
    return [item for d in domains if d.seed for item in d.module("seed").DATA_SETS]


def install(domains: Domains = DOMAINS) -> None:
    """Give the shared kit what the domains contribute: who can authenticate, where
    permissions come from, where audit rows go, who acts on which event. Every process (app, worker, CLI) calls this
    before it serves a request or runs a job; calling it again replaces, never adds."""
    from gullak.kit import audit, events, security

    schemes = sorted({scheme for d in domains for scheme in d.authenticators})
    security.install(
        authenticators={scheme: [d.resolve(d.authenticators[scheme]) for d in domains
                                 if scheme in d.authenticators] for scheme in schemes},
        permissions={kind: d.resolve(ref) for d in domains for kind, ref in d.permissions.items()},
        denial_hooks=[d.resolve(d.denial_hook) for d in domains if d.denial_hook],
    )
    audit.install([d.resolve(d.audit_writer) for d in domains if d.audit_writer])
    names = sorted({name for d in domains for name in d.handlers})
    events.install({name: [d.resolve(d.handlers[name]) for d in domains if name in d.handlers]
                    for name in names})
    from gullak.merchants import reviews

    reviews.PURCHASE_CHECKS[:] = [d.resolve(d.purchase_check) for d in domains
                                  if d.purchase_check]
