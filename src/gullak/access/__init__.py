"""Access: admin users, roles and permissions, departments, API keys, the audit log, app
settings and feature flags."""
