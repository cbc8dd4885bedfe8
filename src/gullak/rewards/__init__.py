"""Rewards: earning rules an admin writes without code, campaigns with exact budgets, and
the rewards they give (pending through an order's return window, then confirmed; taken back
on refunds, with a debt where the user already spent them), each one explained."""
