"""Loyalty: tiers on what a user earned or spent in a rolling window (with the coin
multiplier the rules use), privé subscriptions and their partner merchants, achievements and
streaks that other domains report into."""
