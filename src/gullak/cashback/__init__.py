"""Affiliate cashback: networks report conversions of tracked clicks (signed postbacks or CSV
reports); each becomes a pending cashback with the user's share, confirmed or rejected by the
network, and paid to the wallet only once confirmed."""
