"""Orders: priced on the server, paid with coins, wallet cash and a gateway, fulfilled by the
merchant, refunded over the tenders that paid them."""
