"""The ReZ, CouponAli and UserState profiles: each app's defining data, loaded through the
services, as the app would show it."""

from __future__ import annotations

from gullak import seed
from gullak.db.engine import Database
from gullak.db.uow import unit_of_work
from gullak.identity import service as identity
from gullak.ledger import service as ledger
from gullak.ledger.verify import verify_database
from gullak.payments import methods as payment_methods
from gullak.payments import service as payments
from gullak.payouts import methods
from gullak.access import service as access
from gullak.cashback import service as cashback
from gullak.catalog import service as catalog
from gullak.discovery import service as discovery
from gullak.discovery.common import Searcher
from gullak.discovery.schemas import SearchParams
from gullak.giftcards import service as giftcards
from gullak.ledger.schemas import AccountIn, OwnerType
from gullak.loyalty import service as loyalty
from gullak.merchants import service as merchants
from gullak.offers import service as offers
from gullak.profiles import couponali, rez, userstate
from gullak.referrals import service as referrals


async def test_userstate_users_hold_the_seed_balances(fresh_db: Database) -> None:
    notes = await seed.load(fresh_db, profile="userstate")
    assert any(userstate.DEMO_PASSWORD in n for n in notes)
    async with unit_of_work(fresh_db) as session:
        for row in userstate.ACCOUNTS:
            [user] = await identity.find_users(session, row.phone, limit=5)
            assert (user.username, user.email) == (row.username, row.email)
            cash = await ledger.balance(session, (await ledger.user_account(
                session, user.id, "INR")).id)
            points = await ledger.balance(session, (await ledger.user_account(
                session, user.id, "POINTS")).id)
            assert (cash.posted, cash.available) == (row.balance,
                                                    row.balance - row.in_transaction)
            assert points.posted == row.points
            [method] = await methods.list_methods(session, "user", user.id)
            assert (method.kind, method.status) == ("bank_channel", "verified")
        [john] = await identity.find_users(session, userstate.ACCOUNTS[0].phone, limit=5)
        [invoice] = (await payments.list_topups(session, john.id)).items
        assert (invoice.amount, invoice.status) == (userstate.INVOICE, "created")
        assert invoice.invoice_number and invoice.invoice_number.startswith("INV-")
        keys = [k for k in await access.list_api_keys(session) if k.name == userstate.KEY_HOLDER]
        assert len(keys) == 1 and keys[0].holder.startswith("gk_")
        enabled = {m.code for m in await payment_methods.list_methods(session)}
        assert set(userstate.PAYMENT_TYPES) <= enabled
        channels = {c.code: c.currency for c in await methods.list_channels(session)}
        assert {channels[c] for c in userstate.BANK_CHANNELS} == {"IDR"}
    report = await verify_database(fresh_db)
    assert report.ok, [c for c in report.checks if not c.ok]


async def test_rez_merchants_sit_in_its_category_tree_and_are_found(fresh_db: Database) -> None:
    await seed.load(fresh_db, profile="rez")
    async with unit_of_work(fresh_db) as session:
        tree = {n.slug: n for n in await catalog.category_tree(session)}
        dining = tree["rez-dining"]
        assert {c.slug for c in dining.children} == {"rez-cafes-bakeries", "rez-street-food"}
        assert {c.slug for c in tree["rez-beauty-wellness"].children} == {"rez-salons",
                                                                         "rez-spas"}
        found = await discovery.search(session, SearchParams(q="chaat"), Searcher())
        kinds = {(h.kind, h.title) for h in found.hits}
        assert ("merchant", "Dilli Chaat Corner") in kinds
        assert ("offer", "Flat ₹40 off chaat platters above ₹250") in kinds
        chaat = next(h for h in found.hits if h.kind == "merchant")
        merchant = await merchants.get_merchant(session, chaat.id)
        street_food = next(c for c in dining.children if c.slug == "rez-street-food")
        assert merchant.category_id == street_food.id and merchant.status == "live"
        assert len(await merchants.list_outlets(session, merchant.id)) == 2

        [priya] = await identity.find_users(session, rez.AMBASSADOR_PHONE, limit=5)
        [arjun] = await identity.find_users(session, rez.FRIEND_PHONE, limit=5)
        assert arjun.referred_by_id == priya.id
        assert (await referrals.my_ambassador(session, priya.id)).ambassador.status == "active"
        assert (merchant.rating_count, merchant.rating_avg) == (1, 5)
        [redemption] = (await offers.list_redemptions(session, user_id=arjun.id)).items
        assert redemption.status == "completed" and redemption.coins_used == 20
        rez_coins = await ledger.balance(session, (await ledger.user_account(
            session, arjun.id, "REZ")).id)
        # Welcome coins and the default sign-up bonus (100), less the chaas's 20.
        assert rez_coins.posted == rez.WELCOME + 100 - 20
        plans = {p.code: p for p in await loyalty.list_plans(session)}
        assert len(plans[rez.PLAN.code].partners) == len(rez.MERCHANTS)
    report = await verify_database(fresh_db)
    assert report.ok, [c for c in report.checks if not c.ok]


async def test_couponali_cashback_is_in_the_ledger(fresh_db: Database) -> None:
    await seed.load(fresh_db, profile="couponali")
    async with unit_of_work(fresh_db) as session:
        stores = {m.name: m for m in (await merchants.list_merchants(
            session, status="live", limit=200)).items}
        assert stores["StyleBazaar"].default_cashback_bps == 700
        assert stores["GadgetHub"].default_cashback_bps == 300
        assert stores["TravelNest"].default_cashback_amount == 15_000
        for item in couponali.STORES:
            store = stores[str(item["store"].name)]
            assert store.affiliate_network == couponali.NETWORK
            [rate] = await merchants.list_commissions(session, store.id)
            assert rate.rate_bps == item["commission_bps"]
        live = (await offers.list_offers(session, merchant_id=stores["StyleBazaar"].id,
                                         status="active")).items
        assert "STYLE15" in {o.coupon_code for o in live}
        [design] = await giftcards.list_designs(session)
        assert (design.merchant_id, design.face_value) == (stores["GadgetHub"].id, 100_000)

        [shopper] = await identity.find_users(session, couponali.SHOPPER_PHONE, limit=5)
        mine = (await cashback.my_cashback(session, shopper.id)).items
        by_store = {c.merchant_name: c for c in mine}
        assert {n: c.status for n, c in by_store.items()} == {
            "StyleBazaar": "confirmed", "GadgetHub": "pending"}
        assert by_store["StyleBazaar"].amount == 4_999_00 * 700 // 10_000
        summary = await cashback.my_summary(session, shopper.id)
        assert (summary.pending, summary.confirmed) == (by_store["GadgetHub"].amount,
                                                        by_store["StyleBazaar"].amount)
        pending = await ledger.open_account(session, AccountIn(
            asset_code="INR", owner_type=OwnerType.user, owner_id=shopper.id,
            purpose="pending"))
        main = await ledger.user_account(session, shopper.id, "INR")
        assert (await ledger.balance(session, pending.id)).posted == summary.pending
        wallet = await ledger.balance(session, main.id)
        assert wallet.posted == summary.confirmed
        # The withdrawal in review holds its amount until it is paid or rejected.
        assert wallet.held == couponali.WITHDRAWAL
    report = await verify_database(fresh_db)
    assert report.ok, [c for c in report.checks if not c.ok]
