"""The UserState profile: its seed data, through the services."""

from __future__ import annotations

from gullak.profiles import Profile

PROFILE = Profile(name="userstate", title="UserState", data_sets=())
