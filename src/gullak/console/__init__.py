"""The console: the admin back office at /console and the merchant portal at /merchant,
server-rendered pages over the same services and permissions as the API."""
