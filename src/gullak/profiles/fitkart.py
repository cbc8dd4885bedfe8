"""The FitKart profile: its seed data, through the services."""

from __future__ import annotations

from gullak.profiles import Profile

PROFILE = Profile(name="fitkart", title="FitKart", data_sets=())
