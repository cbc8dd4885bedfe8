"""Gift cards and vouchers: cards with their own ledger accounts, bought in orders or issued
in bulk, checked by code and PIN, spent as an order tender, claimed into the wallet, expired
to breakage; and vouchers that grant an asset once per user."""
