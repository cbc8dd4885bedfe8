"""Orders arithmetic, pure and integer: what a coin is worth, how an order's total is shared
over its tenders, and how a refund is shared back over them.

Coins pay in the order's currency at a fixed rate per asset: one whole coin is worth one
rupee, so one minor unit of a coin of scale `s` is worth 10^(2-s) paise (a scale-0 coin pays
100 paise), unless `GULLAK_ORDERS_COIN_RATES` names another rate for the asset. A tender's
share is always a whole number of its asset's minor units.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gullak.orders import errors

INR_SCALE = 2


def coin_rate(code: str, scale: int, overrides: dict[str, int]) -> int | None:
    """Paise one minor unit of the coin is worth; None if it cannot pay (a scale above INR's,
    whose minor units would be worth a fraction of a paisa)."""
    if code in overrides:
        return overrides[code] if overrides[code] > 0 else None
    if scale > INR_SCALE:
        return None
    return 10 ** (INR_SCALE - scale)


@dataclass(frozen=True)
class Candidate:
    """A tender that may pay: `available` and `requested` in the asset's minor units."""

    kind: str  # coins, wallet, gift_card
    asset_code: str
    rate: int
    available: int
    requested: int | None = None  # None: as much as it can
    gift_card_id: uuid.UUID | None = None
    account_id: uuid.UUID | None = None  # the ledger account it is held on, when known


@dataclass
class Allocation:
    kind: str
    asset_code: str
    rate: int
    amount: int  # minor units of the asset
    gift_card_id: uuid.UUID | None = None
    account_id: uuid.UUID | None = None

    @property
    def value(self) -> int:
        return self.amount * self.rate


@dataclass
class Plan:
    tenders: list[Allocation] = field(default_factory=list)
    gateway: int = 0  # what is left for a gateway payment, in the order's currency
    notes: list[dict[str, Any]] = field(default_factory=list)


def allocate(total: int, candidates: Sequence[Candidate], coin_cap: int | None) -> Plan:
    """Share `total` over `candidates` in their order; coins together pay at most `coin_cap`
    (None: no cap). What is left goes to the gateway. A tender asked for explicitly is
    refused if the user does not have that much, or if it would break the cap."""
    plan = Plan()
    remaining = total
    coin_room = coin_cap
    capped = False
    for c in candidates:
        if c.requested is not None and c.requested > c.available:
            raise errors.InsufficientTender(
                f"You have {c.available} of {c.asset_code} available.", field="tenders",
                asset_code=c.asset_code, available=c.available)
        want = c.available if c.requested is None else c.requested
        limit = remaining
        if c.kind == "coins" and coin_room is not None:
            if c.requested is not None and min(c.requested, remaining // c.rate) * c.rate \
                    > coin_room:
                raise errors.CoinCapExceeded(
                    f"Coins may pay at most {coin_cap} here; {c.asset_code} would pass it.",
                    field="tenders", asset_code=c.asset_code, cap=coin_cap)
            if min(want, remaining // c.rate) * c.rate > coin_room:
                capped = True
            limit = min(limit, coin_room)
        units = min(want, limit // c.rate)
        if units <= 0:
            continue
        plan.tenders.append(Allocation(c.kind, c.asset_code, c.rate, units, c.gift_card_id,
                                       c.account_id))
        remaining -= units * c.rate
        if c.kind == "coins" and coin_room is not None:
            coin_room -= units * c.rate
    if capped:
        plan.notes.append({"code": "coin_cap", "cap": coin_cap,
                           "detail": f"Coins may pay at most {coin_cap} of this order "
                                     "at this merchant."})
    plan.gateway = remaining
    return plan


@dataclass(frozen=True)
class Slot:
    """A tender as a refund sees it, in the asset's minor units."""

    rate: int
    paid: int
    refunded: int = 0


def _largest_remainder(amount: int, weights: Sequence[int]) -> list[int]:
    whole = sum(weights)
    exact = [amount * w for w in weights]
    shares = [e // whole for e in exact]
    short = amount - sum(shares)
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(exact[i] % whole), i))
    for i in by_remainder[:short]:
        shares[i] += 1
    return shares


def proportional(amount: int, weights: Sequence[int], caps: Sequence[int]) -> list[int]:
    """`amount` shared in proportion to `weights` (largest remainder), none above its cap;
    what a capped share cannot take goes to the others, in proportion again."""
    shares = [0] * len(weights)
    left = amount
    while left > 0:
        open_ = [i for i in range(len(weights)) if shares[i] < caps[i]]
        if not open_:
            break
        w = [weights[i] or caps[i] - shares[i] for i in open_]
        for i, give in zip(open_, _largest_remainder(left, w), strict=True):
            take = min(give, caps[i] - shares[i])
            shares[i] += take
            left -= take
    return shares


def _greedy(amount: int, slots: Sequence[Slot], units: list[int]) -> int:
    """Add whole units to `units`, the coarsest tender first (exact when each rate divides
    the next, as 1, 10, 100 do); returns what could not be placed."""
    for i in sorted(range(len(slots)), key=lambda i: (-slots[i].rate, i)):
        room = slots[i].paid - slots[i].refunded - units[i]
        take = min(room, amount // slots[i].rate)
        units[i] += take
        amount -= take * slots[i].rate
    return amount


def split_refund(slots: Sequence[Slot], amount: int) -> list[int]:
    """Minor units to give back on each tender for a refund of `amount` (order currency): in
    proportion to what each paid, never more than it has left, whole units only."""
    rooms = [(s.paid - s.refunded) * s.rate for s in slots]
    if amount <= 0:
        raise errors.InvalidOrder("A refund gives back something.", field="amount")
    if amount > sum(rooms):
        raise errors.RefundExceedsPaid(f"At most {sum(rooms)} is left to refund.",
                                       field="amount", refundable=sum(rooms))
    values = proportional(amount, [s.paid * s.rate for s in slots], rooms)
    units = [v // s.rate for v, s in zip(values, slots, strict=True)]
    left = amount - sum(u * s.rate for u, s in zip(units, slots, strict=True))
    if left and _greedy(left, slots, units):
        units = [0] * len(slots)  # the proportional start cannot be completed: start plain
        if _greedy(amount, slots, units):
            raise errors.RefundNotRepresentable(field="amount")
    return units
