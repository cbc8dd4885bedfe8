"""The shared field types: what each refuses, with the field named, and what it lets through."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from annotated_types import Ge
from pydantic import StringConstraints, TypeAdapter, ValidationError

from gullak.kit.schemas import (
    BigInt,
    Float,
    In,
    Int,
    JsonObject,
    Latitude,
    MultilineText,
    Name,
    SmallInt,
    Text,
    read_json,
)


class Body(In):
    title: Annotated[Text, StringConstraints(max_length=20)] = "ok"
    note: MultilineText = ""
    name: Name = "Asha"
    small: SmallInt = 0
    count: Int = 0
    amount: Annotated[BigInt, Ge(0)] = 0
    ratio: Float = 0.0
    lat: Latitude = 0.0
    meta: JsonObject = {}


def refused(**fields: Any) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        Body(**fields)
    return [(".".join(map(str, e["loc"])), e["type"]) for e in caught.value.errors()]


@pytest.mark.parametrize("value", ["a\x00b", "a\x1bb", "a\nb", "a\x85b", "a\ud800b", "a\u2028b"])
def test_single_line_text_refuses_controls_and_lone_surrogates(value: str) -> None:
    assert refused(title=value) == [("title", "invalid_character")]


def test_multiline_text_allows_line_breaks_and_tabs_only() -> None:
    assert Body(note="one\n\ttwo\r\n").note == "one\n\ttwo\r\n"
    assert refused(note="a\x00") == [("note", "invalid_character")]
    assert refused(note="a\x07") == [("note", "invalid_character")]


@pytest.mark.parametrize("value", ["gnp\u202eexe", "\u2066x\u2069", "a\u200fb", "\x1b[31mred"])
def test_names_refuse_bidi_controls_and_escapes(value: str) -> None:
    assert refused(name=value) == [("name", "invalid_character")]


def test_names_keep_scripts_and_emoji() -> None:
    for name in ("आशा", "محمد", "Zoë 👩‍💻", "李小龍"):
        assert Body(name=name).name == name


def test_length_limits_still_apply_to_text() -> None:
    assert refused(title="x" * 21) == [("title", "too_long")]


@pytest.mark.parametrize("field, value", [
    ("small", 2**15), ("small", -(2**15) - 1), ("count", 2**31), ("amount", 2**63),
    ("amount", -1), ("count", 10**30)])
def test_integers_fit_their_column(field: str, value: int) -> None:
    assert [f for f, _ in refused(**{field: value})] == [field]


def test_integers_at_their_column_bounds_pass() -> None:
    body = Body(small=2**15 - 1, count=-(2**31), amount=2**63 - 1)
    assert (body.small, body.count, body.amount) == (32767, -(2**31), 2**63 - 1)


def test_floats_are_finite_and_tiny_ones_are_zero() -> None:
    assert Body(ratio=1e-290, lat=-6.97e-290).model_dump(include={"ratio", "lat"}) == \
        {"ratio": 0.0, "lat": 0.0}
    assert Body(lat=19.076090123456).lat == 19.0760901
    for value in (float("nan"), float("inf")):
        assert [f for f, _ in refused(ratio=value)] == ["ratio"]
    assert [f for f, _ in refused(lat=90.5)] == ["lat"]


def deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels):
        value = {"a": value}
    return value


@pytest.mark.parametrize("meta", [
    deep(500), deep(10), {"a": "x\x00"}, {"x\x00": 1}, {"a": ["\udc00"]}, {"n": 2**64},
    {"n": float("nan")}, {"blob": "x" * 17_000}])
def test_json_is_bounded_and_storable(meta: dict[str, Any]) -> None:
    assert refused(meta=meta) == [("meta", "invalid_json_value")]


def test_json_within_the_limits_passes() -> None:
    meta = {"order": "ORD-1", "items": [{"sku": "A", "qty": 2, "price": 1.5}], "ok": None,
            "deep": deep(6), "line": "a\nb"}
    assert Body(meta=meta).meta == meta


def test_unknown_fields_are_refused_by_name() -> None:
    assert refused(titel="typo") == [("titel", "extra_forbidden")]


def _request_bodies() -> list[type[In]]:
    from gullak.app import create_app
    from gullak.settings import Settings

    create_app(Settings(env="test"))  # every domain's schemas imported
    found: list[type[In]] = []
    pending: list[type[In]] = [In]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return [cls for cls in found if not cls.__name__.endswith("Out")]


def test_no_request_body_takes_a_time_without_an_offset() -> None:
    """A naive time compared with the aware times the platform keeps raises TypeError (a 500):
    every time a client sends is an AwareDatetime, refused by name without an offset."""
    naive = "2030-01-01T10:00:00"
    takers = []
    for cls in _request_bodies():
        for name, field in cls.model_fields.items():
            if "datetime" not in str(field.annotation):
                continue
            metadata = tuple(field.metadata)
            adapter: TypeAdapter[Any] = TypeAdapter(
                Annotated[(field.annotation, *metadata)] if metadata else field.annotation)
            try:
                adapter.validate_python(naive)
            except ValidationError:
                continue
            takers.append(f"{cls.__module__}.{cls.__name__}.{name}")
    assert takers == []


@pytest.mark.parametrize("raw", ['{"a": ', "[" * 100_000 + "]" * 100_000, b"\xff"])
def test_json_that_cannot_be_read_is_a_value_error_however_deep(raw: str | bytes) -> None:
    # Callers (bodies, callbacks, feeds, form fields) catch ValueError alone.
    with pytest.raises(ValueError):
        read_json(raw)
    assert read_json(b'{"a": [1]}') == {"a": [1]}

