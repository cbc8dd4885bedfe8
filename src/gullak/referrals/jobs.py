"""Referrals background work: none yet. Every referral moves in the unit of work of the event
that moves it (a sign-up, a completed order, a top-up, a step count), so nothing waits for a
worker; this module is where a sweep (expiring referrals never qualified, say) would go."""

from __future__ import annotations
