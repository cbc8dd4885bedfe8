"""Partners: companies that place orders for linked users with their own API key, and hear
about every status change of those orders through signed outbound webhooks."""
