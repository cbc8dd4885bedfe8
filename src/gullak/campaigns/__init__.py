"""Marketing campaigns: segments of users, scheduled and throttled sends with A/B variants, and conversions attributed per variant."""
