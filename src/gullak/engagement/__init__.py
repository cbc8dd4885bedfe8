"""Engagement: leaderboards by steps and coins (weekly, monthly, all time; global, per city,
per college, among friends) on PostgreSQL or Redis sorted sets, and follows between users."""
