"""Core conditions inlined into hand-written SQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import column, func, literal_column

from gullak.kit.sql import inline


def test_values_move_into_the_params_under_the_prefix() -> None:
    at = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    clause = (literal_column("p.status") == "live") & (func.timezone(column("tz"), at) > at)
    params: dict[str, Any] = {"p_status_1": "the query's own"}
    sql = inline(clause, params, "m")
    assert sql == "p.status = :m_p_status_1 AND timezone(tz, :m_timezone_1) > :m_timezone_2"
    assert params == {"p_status_1": "the query's own", "m_p_status_1": "live",
                      "m_timezone_1": at, "m_timezone_2": at}
    with pytest.raises(ValueError, match="already in use"):
        inline(clause, params, "m")
