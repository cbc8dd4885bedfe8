"""Offers: types and rules, approval workflow, validation, redemption through the ledger,
view and click tracking (monthly partitions), saves and shares."""
