"""Message catalogues of the console: one JSON file per language under ``locales/``.

Simplified Chinese is the default; English is switchable. Templates and
routes never spell a label themselves: they ask ``translator(lang)(key)``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"
HTML_LANG = {"zh": "zh-CN", "en": "en"}

Translate = Callable[..., str]


@cache
def catalogue(lang: str) -> dict[str, str]:
    text = resources.files("exchange_hub.web").joinpath(f"locales/{lang}.json").read_text("utf-8")
    loaded: dict[str, str] = json.loads(text)
    return loaded


def pick_language(requested: str | None) -> str:
    return requested if requested in LANGUAGES else DEFAULT_LANGUAGE


def translator(lang: str) -> Translate:
    """``t("nav.overview")`` → the label; ``{name}`` placeholders are filled from keywords.

    A key missing from the catalogue shows as the key itself, and a test keeps
    both catalogues complete.
    """
    messages = catalogue(pick_language(lang))

    def translate(key: str, **values: Any) -> str:
        text = messages.get(key, key)
        return text.format(**values) if values else text

    return translate
