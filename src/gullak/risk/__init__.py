"""Risk: suspicious activity scored from domain events, reviewed by admins, and blocked above a threshold."""
