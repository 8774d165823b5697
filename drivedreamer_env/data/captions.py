"""Caption normalisation: time-of-day and weather words in the vocabulary of the simulator's captions.

Simulator captions start ``"<time of day>, <weather>, ..."`` with time of day in {day, dusk, night} and weather
in {clear, light fog, dense fog, light rain, heavy rain} (``sim/world.py``). A nuScenes scene description such as
``"Night, rain, parked cars, peds"`` becomes ``"night, light rain, parked cars, peds"``, so text conditioning
learnt on the simulator transfers. A simulator caption is left unchanged.
"""

from __future__ import annotations

import re

NIGHT_WORDS = frozenset({"night", "nighttime", "dark", "darkness"})
DUSK_WORDS = frozenset({"dusk", "dawn", "sunset", "sunrise", "twilight"})
DAY_WORDS = frozenset({"day", "daytime", "daylight", "sunny", "noon"})
RAIN_WORDS = frozenset({"rain", "rainy", "raining", "drizzle", "showers"})
FOG_WORDS = frozenset({"fog", "foggy", "mist", "misty", "haze", "hazy"})
CLEAR_WORDS = frozenset({"clear"})
STRONG_WORDS = frozenset({"heavy", "dense", "thick", "strong", "downpour", "storm"})
LIGHT_WORDS = frozenset({"light", "slight"})
_STYLE_WORDS = NIGHT_WORDS | DUSK_WORDS | DAY_WORDS | RAIN_WORDS | FOG_WORDS | CLEAR_WORDS | STRONG_WORDS | LIGHT_WORDS


def _words(phrase: str) -> list[str]:
    return re.findall(r"[a-z]+", phrase.lower())


def time_of_day(text: str) -> str:
    """``night``, ``dusk`` or ``day`` (the default) from the words of ``text``."""
    words = set(_words(text))
    if words & NIGHT_WORDS:
        return "night"
    if words & DUSK_WORDS:
        return "dusk"
    return "day"


def weather(text: str) -> str:
    """``clear`` (the default), ``light fog``, ``dense fog``, ``light rain`` or ``heavy rain`` from ``text``."""
    for kind, names in (("rain", RAIN_WORDS), ("fog", FOG_WORDS)):
        # the strength is read from the phrase that names the weather ("heavy traffic" says nothing about rain)
        phrases = [set(_words(p)) for p in text.split(",") if set(_words(p)) & names]
        if phrases:
            strong = any(p & STRONG_WORDS for p in phrases)
            return ("dense fog" if kind == "fog" else "heavy rain") if strong else f"light {kind}"
    return "clear"


def normalize_caption(text: str) -> str:
    """``"<time of day>, <weather>, <the other phrases>"`` in lower case; phrases that only name time of day or
    weather are dropped from the rest (they are restated at the front)."""
    phrases = [p.strip() for p in text.split(",") if p.strip()]
    rest = [p.lower() for p in phrases if not set(_words(p)) <= _STYLE_WORDS]
    return ", ".join([time_of_day(text), weather(text), *rest])
