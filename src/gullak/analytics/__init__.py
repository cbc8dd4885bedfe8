"""Analytics: the append-only record of what users and systems did (activity events, partitioned by month) and the daily summaries built from it."""
