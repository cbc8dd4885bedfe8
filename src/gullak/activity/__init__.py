"""Activity: steps synced from phones' health stores, checked against cheating before any
coin, converted into coins once a day, daily goals and streaks, and step challenges."""
