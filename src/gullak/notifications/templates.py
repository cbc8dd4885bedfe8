"""Templates: checking one before it is saved, and rendering one for a locale and data.

Placeholders are `{name}`; anything else in braces is text. A template may only use the
variables it declares (checked at save), and rendering refuses data that leaves a used
variable without a value, so no message goes out with a hole or a stray `{name}` in it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from typing import Any

from gullak.notifications import errors

PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
DEFAULT_LOCALE = "en"
# The parts each channel needs (and may have) in every locale.
PARTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "inbox": (("title", "body"), ()),
    "push": (("title", "body"), ()),
    "sms": (("text",), ()),
    "email": (("subject", "text"), ("html",)),
}


def used(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def check(channels: Iterable[str], variables: Iterable[str],
          content: Mapping[str, Mapping[str, Mapping[str, str]]]) -> None:
    """Refuse a template that cannot render: no English text, a channel without its parts,
    parts it does not send, or a placeholder that is not a declared variable."""
    channels, declared = list(channels), set(variables)
    if DEFAULT_LOCALE not in content:
        raise errors.InvalidTemplate("Every template has English text (locale 'en').",
                                     field="content")
    for locale, by_channel in content.items():
        extra = set(by_channel) - set(channels)
        if extra:
            raise errors.InvalidTemplate(f"Text for a channel the template does not send to: "
                                         f"{sorted(extra)[0]}.", field=f"content.{locale}")
        for channel in channels:
            needed, optional = PARTS[channel]
            parts = by_channel.get(channel)
            if parts is None:
                raise errors.InvalidTemplate(f"No {channel} text in locale {locale!r}.",
                                             field=f"content.{locale}")
            missing = [p for p in needed if not parts.get(p)]
            unknown = set(parts) - set(needed) - set(optional)
            if missing or unknown:
                what = missing[0] if missing else sorted(unknown)[0]
                raise errors.InvalidTemplate(
                    f"The {channel} text in {locale!r} needs {', '.join(needed)}"
                    f"{' (and may have ' + ', '.join(optional) + ')' if optional else ''}.",
                    field=f"content.{locale}.{channel}.{what}")
            for part, text in parts.items():
                undeclared = used(text) - declared
                if undeclared:
                    name = sorted(undeclared)[0]
                    raise errors.UndeclaredVariable(
                        f"{{{name}}} is used but not among the template's variables.",
                        field=f"content.{locale}.{channel}.{part}", variable=name)


def pick_locale(content: Mapping[str, Any], wanted: str | None) -> str:
    """The wanted locale if the template has it, else its language alone ('hi-IN' → 'hi'),
    else English."""
    if wanted:
        if wanted in content:
            return wanted
        language = wanted.split("-")[0].lower()
        if language in content:
            return language
    return DEFAULT_LOCALE


def render(content: Mapping[str, Mapping[str, Mapping[str, str]]], channels: Iterable[str],
           locale: str, data: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Each channel's parts in `locale` with the data filled in (escaped inside HTML)."""
    by_channel = content[locale]
    needed = {name for channel in channels for text in by_channel[channel].values()
              for name in used(text)}
    missing = sorted(n for n in needed if data.get(n) is None)
    if missing:
        raise errors.MissingTemplateData(f"No value for {', '.join(missing)}.", field="data",
                                         variables=missing)
    values = {name: str(data[name]) for name in needed}

    def fill(text: str, escape: bool) -> str:
        return PLACEHOLDER.sub(lambda m: html.escape(values[m.group(1)]) if escape
                               else values[m.group(1)], text)

    return {channel: {part: fill(text, part == "html")
                      for part, text in by_channel[channel].items()}
            for channel in channels}
