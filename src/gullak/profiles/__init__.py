"""App profiles: demo data that makes Gullak look like one of the seed apps (RTMN, FitKart,
ReZ, CouponAli, UserState), loaded after the default demo data sets by
`gullak seed --profile NAME` or `make run PROFILE=NAME`, and volume for load tests with
`--scale N` (see `scale.py`).

A profile's data sets go through the domains' services, so the ledger's guards hold for them
as for any request; each loads once per database (`seed_runs`), so loading twice adds
nothing."""

from __future__ import annotations

from dataclasses import dataclass

from gullak.kit.demo import DataSet


@dataclass(frozen=True)
class Profile:
    name: str
    title: str  # one line: the app and what the profile brings
    data_sets: tuple[DataSet, ...]


def registry() -> dict[str, Profile]:
    """Every profile by name; imported here, so a profile module loads only when asked for."""
    from gullak.profiles import couponali, fitkart, rez, rtmn, userstate

    return {p.name: p for p in (rtmn.PROFILE, fitkart.PROFILE, rez.PROFILE, couponali.PROFILE,
                                userstate.PROFILE)}


NAMES = ("rtmn", "fitkart", "rez", "couponali", "userstate")


def get(name: str) -> Profile:
    profiles = registry()
    if name not in profiles:
        raise KeyError(f"unknown profile {name!r}: one of {', '.join(NAMES)}")
    return profiles[name]
