"""Pricing on the server: items at the catalog's current prices, the coupon through the offers
domain's own validation, delivery fee and tax from settings, and the tenders that pay."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from gullak.catalog import service as catalog
from gullak.catalog.errors import VariantNotFound
from gullak.giftcards import service as giftcards
from gullak.kit.errors import NotFound
from gullak.ledger import service as ledger
from gullak.offers import service as offers
from gullak.offers.schemas import CartIn
from gullak.orders import errors
from gullak.orders.money import Candidate, Plan, allocate, coin_rate
from gullak.orders.schemas import GiftCardTenderIn, ItemIn, OrderIn
from gullak.settings import Settings

INR = "INR"
PROMO = "PROMO"


@dataclass(frozen=True)
class Policy:
    tax_bps: int = 500
    tax_bps_by_category: tuple[tuple[str, int], ...] = ()
    delivery_fee: int = 4_000
    free_delivery_from: int | None = 50_000
    coin_cap_bps: int = 2_000
    coin_rates: tuple[tuple[str, int], ...] = ()
    unpaid: dt.timedelta = dt.timedelta(minutes=30)
    reward_hold: dt.timedelta = dt.timedelta(days=30)
    gateway: str = "sandbox"  # where an order's gateway part is paid

    @classmethod
    def of(cls, s: Settings) -> Policy:
        return cls(s.orders_tax_bps, tuple(s.orders_tax_bps_by_category.items()),
                   s.orders_delivery_fee, s.orders_free_delivery_from, s.orders_coin_cap_bps,
                   tuple(s.orders_coin_rates.items()),
                   dt.timedelta(minutes=s.orders_unpaid_minutes),
                   dt.timedelta(days=s.orders_reward_hold_days), s.payment_gateway)

    def tax_rate(self, category_id: uuid.UUID | None) -> int:
        return dict(self.tax_bps_by_category).get(str(category_id), self.tax_bps)


@dataclass
class Line:
    product_id: uuid.UUID
    variant_id: uuid.UUID | None
    sku: str
    name: str
    unit_price: int
    quantity: int
    asset_code: str

    @property
    def total(self) -> int:
        return self.unit_price * self.quantity


async def lines(session: AsyncSession, merchant_id: uuid.UUID, items: list[ItemIn]) -> list[Line]:
    """The items at the catalog's prices now, one read each; `unit_price` from the client is
    never read. The merchant is the caller's to have checked live."""
    out = []
    for item in items:
        try:
            sale = await catalog.sale_line(session, item.product_id, item.variant_id)
        except VariantNotFound:
            raise errors.ItemNotListed("No such variant on sale.", field="items",
                                       variant_id=str(item.variant_id)) from None
        except NotFound:
            sale = None
        if sale is None or sale.merchant_id != merchant_id:
            raise errors.ItemNotListed(field="items", product_id=str(item.product_id))
        out.append(Line(sale.product_id, sale.variant_id, sale.sku, sale.name, sale.unit_price,
                        item.quantity, sale.asset_code))
    if len({line.asset_code for line in out}) > 1:
        raise errors.MixedCurrencies(field="items")
    return out


async def discount(session: AsyncSession, data: OrderIn, user_id: uuid.UUID, subtotal: int,
                   item_count: int, city: str | None) -> tuple[uuid.UUID | None, int]:
    """The coupon's offer and what it takes off, by the offers domain's own rules: every one
    of its reasons for refusing is the order's too."""
    if data.coupon_code is None:
        return None, 0
    check = await offers.validate_code(session, data.coupon_code, user_id, CartIn(
        amount=subtotal, item_count=min(item_count, 1_000_000_000), outlet_id=data.outlet_id,
        city=city))
    reasons = list(check.reasons)
    offer = await offers.public_offer(session, check.offer_id)
    if offer.merchant_id != data.merchant_id:
        reasons.append("wrong_merchant")
    if reasons:
        raise errors.CouponNotApplicable(field="coupon_code", reasons=reasons)
    return check.offer_id, check.discount


def fees(policy: Policy, data: OrderIn, after_discount: int,
         category_id: uuid.UUID | None) -> tuple[int, int]:
    """(delivery fee, tax) of a purchase."""
    free = policy.free_delivery_from is not None and after_discount >= policy.free_delivery_from
    fee = policy.delivery_fee if data.fulfilment == "delivery" and not free else 0
    return fee, after_discount * policy.tax_rate(category_id) // 10_000


Card = tuple[GiftCardTenderIn, giftcards.Tender]


def card_candidates(cards: Sequence[Card]) -> list[Candidate]:
    """Gift cards pay in INR after every other tender, in the order given; coins' cap is not
    theirs."""
    found = []
    for asked, card in cards:
        if asked.amount is not None and asked.amount > card.available:
            raise errors.InsufficientTender(
                f"The gift card has {card.available} available.", field="gift_cards",
                asset_code=INR, available=card.available)
        found.append(Candidate("gift_card", INR, 1, card.available, asked.amount,
                               card.card_id, card.account_id))
    return found


async def tenders(session: AsyncSession, policy: Policy, data: OrderIn, user_id: uuid.UUID,
                  total: int, cards: Sequence[Card] = ()) -> Plan:
    """How a purchase is paid: the merchant's branded coins, promo coins, other coins, wallet
    cash, in that order unless the client lists its own; then gift cards; the gateway pays
    the rest."""
    # Every asset, each with the user's balance in it (zero where none): one read for both.
    held = await ledger.holdings(session, "user", user_id)
    assets = {h.asset_code: h for h in held}
    available = {h.asset_code: h.available for h in held}
    accounts = {h.asset_code: h.account_id for h in held}
    branded = offers.branded_code(data.merchant_id)  # none held if not created yet
    rates = dict(policy.coin_rates)

    def candidate(code: str, requested: int | None) -> Candidate | None:
        asset = assets.get(code)
        if code == INR:
            return Candidate("wallet", INR, 1, available.get(INR, 0), requested,
                             account_id=accounts.get(INR))
        if asset is None or asset.asset_kind != "coin" or asset.merchant_id not in (
                None, data.merchant_id):
            return None
        rate = coin_rate(code, asset.scale, rates)
        return None if rate is None else Candidate("coins", code, rate,
                                                   available.get(code, 0), requested,
                                                   account_id=accounts.get(code))

    found: list[Candidate] = []
    if data.tenders is not None:
        for pref in data.tenders:
            c = candidate(pref.asset_code, pref.amount)
            if c is None or any(f.asset_code == c.asset_code for f in found):
                raise errors.InvalidTender(f"{pref.asset_code} cannot pay for this order.",
                                           field="tenders", asset_code=pref.asset_code)
            found.append(c)
    else:
        others = sorted(code for code, a in assets.items() if a.asset_kind == "coin"
                        and code not in (branded, PROMO) and available.get(code, 0) > 0)
        for code in (branded, PROMO, *others, INR):
            c = candidate(code, None)
            if c is not None and c.available > 0:
                found.append(c)
    found += card_candidates(cards)
    return allocate(total, found, total * policy.coin_cap_bps // 10_000)


async def reward_tender(session: AsyncSession, user_id: uuid.UUID, asset_code: str,
                        total: int) -> Plan:
    """A reward-shop order is paid whole in the coin its items are priced in."""
    asset = await ledger.get_asset(session, asset_code)
    if asset.kind != "coin":
        raise errors.InvalidOrder("Items priced in this asset cannot be ordered.",
                                  code="unsupported_currency", field="items")
    have = {h.asset_code: h for h in await ledger.holdings(session, "user", user_id)}
    mine = have.get(asset_code)
    plan = allocate(total, [Candidate(
        "coins", asset_code, 1, mine.available if mine else 0, total,
        account_id=mine.account_id if mine else None)], None) if total else Plan()
    return plan
