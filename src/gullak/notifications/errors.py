"""Notifications errors, each with a stable code."""

from __future__ import annotations

from gullak.kit.errors import Conflict, InvalidInput, NotFound, Unprocessable


class TemplateNotFound(NotFound):
    code = "notification_template_not_found"
    title = "No such notification template"


class NotificationNotFound(NotFound):
    code = "notification_not_found"
    title = "No such notification"


class TemplateExists(Conflict):
    code = "notification_template_exists"
    title = "A notification template with this code exists"


class UndeclaredVariable(InvalidInput):
    code = "template_undeclared_variable"
    title = "The template uses a variable it does not declare"


class InvalidTemplate(InvalidInput):
    code = "invalid_notification_template"
    title = "The template is missing a locale, a channel's text or a required part"


class MissingTemplateData(Unprocessable):
    code = "template_data_missing"
    title = "The data does not give every variable the template uses"


class UnknownLocale(InvalidInput):
    code = "unknown_locale"
    title = "The template has no text in this locale"


class InvalidTimeZone(InvalidInput):
    code = "invalid_time_zone"
    title = "Not a known IANA time zone"
