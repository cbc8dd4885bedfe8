"""Payments: payment intents, gateway calls, webhooks, refunds, top-ups and reconciliation."""
