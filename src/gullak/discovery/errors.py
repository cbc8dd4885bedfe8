"""Discovery errors, each with a stable code."""

from __future__ import annotations

from gullak.kit.errors import InvalidInput, NotFound


class QueryRequired(InvalidInput):
    code = "query_required"
    title = "Say what to look for: a query or at least one filter"


class QueryTooLong(InvalidInput):
    code = "query_too_long"
    title = "The query is too long"


class InvalidKind(InvalidInput):
    code = "invalid_kind"
    title = "Unknown kind of result"


class InvalidPriceRange(InvalidInput):
    code = "invalid_price_range"
    title = "Invalid price range"


class InvalidRating(InvalidInput):
    code = "invalid_rating"
    title = "A rating is between 0 and 5"


class InvalidTag(InvalidInput):
    code = "invalid_tag"
    title = "Invalid tag"


class UnknownCategory(InvalidInput):
    code = "unknown_category"
    title = "No such category"


class InvalidCoordinates(InvalidInput):
    code = "invalid_coordinates"
    title = "Latitude is between -90 and 90, longitude between -180 and 180"


class InvalidRadius(InvalidInput):
    code = "invalid_radius"
    title = "Invalid radius"


class InvalidLimit(InvalidInput):
    code = "invalid_limit"
    title = "Invalid limit"


class SearchNotFound(NotFound):
    code = "search_not_found"
    title = "No such search"


class ClickNotInResults(InvalidInput):
    code = "click_not_in_results"
    title = "The clicked result was not shown at that position of this search"
