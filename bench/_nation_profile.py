"""The profile of a nation-scale run (``bench/profiles/*.toml``): who takes part, how much
each does in a day, when, and how migration between regions is skewed.

Volumes are per county per day of an *average* day; ``month_end_factor`` multiplies the
office-hours steps (queries, answers' queries, look-ups, exports) for the month-end day
the bench plays. Times of day are Beijing time (the hub works in Asia/Shanghai), as
``HH:MM``. ``[migration]`` weights are shares of the outflow (``out``: counties whose
people left, that answer queries) and of the inflow (``in``: counties where they live
now, that send queries and look people up), keyed by a region-code prefix (``"51"`` a
province, ``"4403"`` a prefecture); counties matching no key share what is left. Within
a key's counties the share falls off as Zipf with exponent ``zipf`` (0: equal).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

PROFILES = Path(__file__).resolve().parent / "profiles"


def minute_of_day(text: str) -> int:
    """``"08:30"`` → 510."""
    hours, _, minutes = text.partition(":")
    value = int(hours) * 60 + int(minutes)
    if not (0 <= value <= 24 * 60 and len(minutes) == 2):
        raise ValueError(f"not a time of day HH:MM: {text!r}")
    return value


@dataclass(frozen=True)
class Volumes:
    """Per county per day (average day), except ``exports_per_admin_per_day``."""

    stock_records_per_county: int  # what the hub holds (capacity arithmetic only)
    preload_records_per_county: int  # pushed before the timed window
    records_per_county_per_day: int  # night batches
    inflow_share: float
    queries_per_county_per_day: float
    answer_ratio: float  # share of queries answered the same day
    answer_delay_minutes: float  # mean (exponential)
    not_found_share: float  # of the answers, 查无此人
    lookups_per_county_per_day: float
    change_pulls_per_county_per_day: int  # the county's sync job, spread over 24 h
    exports_per_admin_per_day: float
    month_end_factor: float


@dataclass(frozen=True)
class Clock:
    """The simulated day: office hours with a lunch dip, the night batches' window, and
    the timed window the bench plays (``start`` + ``minutes``) at ``scale`` simulated
    seconds per real second."""

    scale: float
    start: int  # minute of day
    minutes: float
    office: tuple[tuple[int, int], ...]  # [from, to) minutes, the working periods
    lunch: tuple[int, int]
    lunch_level: float  # intensity at lunch against office hours
    night: tuple[int, int]


@dataclass(frozen=True)
class Migration:
    zipf: float
    out: dict[str, float]
    into: dict[str, float]


@dataclass(frozen=True)
class Profile:
    name: str
    provinces: tuple[str, ...]  # 2-digit codes the counties are drawn from; () = all
    counties: int
    admins: int
    volumes: Volumes
    clock: Clock
    migration: Migration


def load_profile(path: Path | str) -> Profile:
    """Read and check a profile; a mistake names its key."""
    raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    try:
        return _profile(raw)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from exc


def _profile(raw: dict[str, Any]) -> Profile:
    volumes = Volumes(**{f.name: raw["volumes"][f.name] for f in fields(Volumes)})
    t = raw["time"]
    office = tuple((minute_of_day(a), minute_of_day(b)) for a, b in t["office_hours"])
    lunch = (minute_of_day(t["lunch"][0]), minute_of_day(t["lunch"][1]))
    night = (minute_of_day(t["night"][0]), minute_of_day(t["night"][1]))
    clock = Clock(float(t["scale"]), minute_of_day(t["start"]), float(t["minutes"]), office,
                  lunch, float(t["lunch_level"]), night)  # fmt: skip
    m = raw["migration"]
    migration = Migration(float(m["zipf"]), _shares(m, "out"), _shares(m, "in"))
    profile = Profile(
        name=str(raw["name"]), provinces=tuple(str(p) for p in raw.get("provinces", [])),
        counties=int(raw["counties"]), admins=int(raw["admins"]), volumes=volumes,
        clock=clock, migration=migration,
    )  # fmt: skip
    _check(profile)
    return profile


def _shares(migration: dict[str, Any], key: str) -> dict[str, float]:
    shares = {str(prefix): float(share) for prefix, share in migration.get(key, {}).items()}
    if any(s < 0 for s in shares.values()) or sum(shares.values()) > 1.0 + 1e-9:
        raise ValueError(f"migration.{key}: shares are ≥ 0 and sum to at most 1")
    if any(not (p.isdigit() and len(p) in (2, 4, 6)) for p in shares):
        raise ValueError(f"migration.{key}: keys are 2-, 4- or 6-digit region prefixes")
    return shares


def _check(p: Profile) -> None:
    v, c = p.volumes, p.clock
    for name in ("inflow_share", "answer_ratio", "not_found_share"):
        if not 0.0 <= getattr(v, name) <= 1.0:
            raise ValueError(f"volumes.{name} is a share between 0 and 1")
    if p.counties < 2 or p.admins < 1:
        raise ValueError("counties is 2 or more, admins 1 or more")
    if c.scale <= 0 or c.minutes <= 0 or c.start * 60 + c.minutes * 60 > 86_400:
        raise ValueError("time: scale and minutes are positive, the window ends by 24:00")
    if any(a >= b for a, b in (*c.office, c.lunch, c.night)):
        raise ValueError("time: every period ends after it starts")
