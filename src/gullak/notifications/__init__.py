"""Notifications: one `notify` call fans out to a user's inbox, push, SMS and email, by template, preference and quiet hours, each channel delivered once."""
