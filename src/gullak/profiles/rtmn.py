"""The RTMN profile: its seed data, through the services."""

from __future__ import annotations

from gullak.profiles import Profile

PROFILE = Profile(name="rtmn", title="RTMN", data_sets=())
