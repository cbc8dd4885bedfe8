"""Senders for the outside channels: push (FCM HTTP v1 for Android and web, APNs for iOS),
email (SMTP), SMS (identity's sender), each with a sandbox that keeps what it would send."""
