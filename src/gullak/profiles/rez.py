"""The ReZ profile: its seed data, through the services."""

from __future__ import annotations

from gullak.profiles import Profile

PROFILE = Profile(name="rez", title="ReZ", data_sets=())
