"""What a nation-scale run sends, and when: the plan, apart from sending it.

``plan_day`` turns a profile into every request of one month-end day for its
counties, each at a simulated time of day (seconds since 00:00 Beijing time);
``window`` cuts out the part the bench plays and the earlier queries its answers
need. Nothing here touches the network, a database or the wall clock: the same
profile and seed give the same plan, and ``tests/bench/test_nation_plan.py`` checks
it against the profile (volumes, the office-hours shape, the skew of migration).

Steps:

- ``batch``    a county's sync job pushes its night batch (``n`` records from seq ``first``);
- ``query``    a county of residence asks the household-registration county ``other`` (协查);
- ``feedback`` that county answers the query ``ref`` (``other`` = found | not_found),
  pulling its inbox first when it has not seen the query yet;
- ``lookup``   a county looks up one of its own records (seq ``n``);
- ``changes``  a county's sync job pulls what changed since its last pull;
- ``export``   an admin (``county`` = its region) reads a bulletin or figures (``other``).
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from bench._nation_profile import Profile
from exchange_hub.region_codes import bundled_catalogue, level_of

DAY = 86_400
EXPORT_FORMATS = ("xlsx", "csv", "figures")
OFFICE_STEPS = ("query", "feedback", "lookup", "export")


@dataclass(frozen=True)
class Event:
    at: float  # simulated seconds since 00:00 Beijing time
    step: str
    county: str  # who sends it (an admin's region for exports)
    other: str = ""  # query: the origin county; feedback: the result; export: what
    ref: str = ""  # the query's case reference (query, feedback)
    n: int = 0  # batch: records; lookup: the record's seq; query: the subject's seq
    first: int = 0  # batch: the first record's seq


@dataclass(frozen=True)
class Day:
    counties: tuple[str, ...]
    admins: tuple[str, ...]  # each admin's region
    out_weights: tuple[float, ...]  # per county, summing to 1
    in_weights: tuple[float, ...]
    events: tuple[Event, ...]  # in time order


@dataclass(frozen=True)
class Window:
    start: float  # simulated seconds of day
    seconds: float
    backlog: tuple[Event, ...]  # earlier queries that the window's answers need
    events: tuple[Event, ...]


# -- who takes part --------------------------------------------------------------------------
def pick_counties(profile: Profile) -> tuple[str, ...]:
    """``profile.counties`` current counties of the hub's catalogue, spread evenly over
    the profile's provinces (every province when none is named)."""
    wanted = set(profile.provinces)
    pool = sorted(e.code for e in bundled_catalogue()
                  if e.active and level_of(e.code) == "county"
                  and (not wanted or e.code[:2] in wanted))  # fmt: skip
    if profile.counties > len(pool):
        raise ValueError(f"the profile wants {profile.counties} counties, the catalogue has "
                         f"{len(pool)} in provinces {sorted(wanted) or 'all'}")  # fmt: skip
    step = len(pool) / profile.counties
    return tuple(pool[int(i * step)] for i in range(profile.counties))


def pick_admins(profile: Profile, counties: Sequence[str]) -> tuple[str, ...]:
    """The first admin at the top (the province, or the nation ``000000``), the others at
    the provinces (nation) or prefectures (one province) with the most counties."""
    provinces = sorted({c[:2] for c in counties})
    top = f"{provinces[0]}0000" if len(provinces) == 1 else "000000"
    width = 4 if len(provinces) == 1 else 2
    below = sorted({c[:width] for c in counties},
                   key=lambda p: (-sum(c.startswith(p) for c in counties), p))  # fmt: skip
    regions = [top] + [p.ljust(6, "0") for p in below]
    return tuple(regions[i % len(regions)] for i in range(profile.admins))


def weights(counties: Sequence[str], shares: dict[str, float], zipf: float,
            rng: random.Random) -> tuple[float, ...]:  # fmt: skip
    """Each county's share: a key's share spread over the counties it names by Zipf
    (ranks shuffled), counties no key names sharing the rest; normalised to 1."""
    groups: dict[str, list[int]] = {}
    for i, county in enumerate(counties):
        key = max((p for p in shares if county.startswith(p)), key=len, default="")
        groups.setdefault(key, []).append(i)
    if missing := sorted(set(shares) - set(groups)):
        raise ValueError(f"migration: no county of the profile's is in {', '.join(missing)}")
    rest = max(0.0, 1.0 - sum(shares.values()))
    result = [0.0] * len(counties)
    for key, members in groups.items():
        share = shares[key] if key else rest
        order = members[:]
        rng.shuffle(order)
        ranks = [1.0 / (rank + 1) ** zipf for rank in range(len(order))]
        for i, r in zip(order, ranks, strict=True):
            result[i] = share * r / sum(ranks)
    total = sum(result) or 1.0
    return tuple(w / total for w in result)


# -- when ------------------------------------------------------------------------------------
def intensity(profile: Profile) -> list[float]:
    """Relative activity of the office-hours steps in each minute of the day."""
    clock = profile.clock
    level = [0.0] * (DAY // 60)
    for start, end in clock.office:
        level[start:end] = [1.0] * (end - start)
    lunch_from, lunch_to = clock.lunch
    level[lunch_from:lunch_to] = [clock.lunch_level] * (lunch_to - lunch_from)
    return level


class TimeOfDay:
    """Draws simulated times (seconds) from a per-minute intensity."""

    def __init__(self, level: Sequence[float]) -> None:
        self.cumulative: list[float] = []
        total = 0.0
        for value in level:
            total += value
            self.cumulative.append(total)
        self.total = total
        self.closing = 60.0 * max((i + 1 for i, v in enumerate(level) if v > 0), default=0)

    def draw(self, rng: random.Random) -> float:
        minute = bisect.bisect_right(self.cumulative, rng.random() * self.total)
        return 60.0 * min(minute, len(self.cumulative) - 1) + 60.0 * rng.random()


# -- the day ---------------------------------------------------------------------------------
def plan_day(profile: Profile, seed: int = 2026) -> Day:
    rng = random.Random(seed)
    counties = pick_counties(profile)
    m = profile.migration
    out_w = weights(counties, m.out, m.zipf, rng)
    in_w = weights(counties, m.into, m.zipf, rng)
    office = TimeOfDay(intensity(profile))
    events = _batches(profile, counties, out_w, in_w, rng) + _changes(profile, counties, rng)
    events += _queries(profile, counties, out_w, in_w, office, rng)
    events += _lookups(profile, counties, in_w, office, rng)
    admins = pick_admins(profile, counties)
    events += _exports(profile, admins, office, rng)
    return Day(counties, admins, out_w, in_w, tuple(sorted(events, key=_time)))


def _time(event: Event) -> float:
    return event.at


def month_end(profile: Profile, per_county_per_day: float) -> int:
    return round(profile.counties * per_county_per_day * profile.volumes.month_end_factor)


def _batches(profile: Profile, counties: Sequence[str], out_w: Sequence[float],
             in_w: Sequence[float], rng: random.Random) -> list[Event]:  # fmt: skip
    """One night batch per county, sized by its share of both directions of migration."""
    v, (night_from, night_to) = profile.volumes, profile.clock.night
    mixed = [(o + i) / 2 for o, i in zip(out_w, in_w, strict=True)]
    sizes = apportion(v.records_per_county_per_day * len(counties), mixed)
    return [Event(60.0 * rng.uniform(night_from, night_to), "batch", county, n=size,
                  first=v.preload_records_per_county)
            for county, size in zip(counties, sizes, strict=True) if size]  # fmt: skip


def _changes(profile: Profile, counties: Sequence[str], rng: random.Random) -> list[Event]:
    """Each county's sync job pulls at fixed intervals round the clock, at its own phase."""
    pulls = profile.volumes.change_pulls_per_county_per_day
    if pulls <= 0:
        return []
    every = DAY / pulls
    events = []
    for county in counties:
        phase = rng.uniform(0, every)
        events += [Event(phase + k * every, "changes", county) for k in range(pulls)]
    return events


def _queries(
    profile: Profile, counties: Sequence[str], out_w: Sequence[float], in_w: Sequence[float],
    office: TimeOfDay, rng: random.Random,
) -> list[Event]:  # fmt: skip
    """Queries from counties of residence (by inflow share) to household-registration
    counties (by outflow share), and the answers of ``answer_ratio`` of them the same day."""
    v = profile.volumes
    total = month_end(profile, v.queries_per_county_per_day)
    senders = rng.choices(counties, weights=in_w, k=total)
    origins = rng.choices(counties, weights=out_w, k=total)
    events = []
    for i, (sender, origin) in enumerate(zip(senders, origins, strict=True)):
        while origin == sender:
            origin = rng.choices(counties, weights=out_w)[0]
        events.append(Event(office.draw(rng), "query", sender, origin, f"q{i}", n=i))
    answered = rng.sample(range(total), round(total * v.answer_ratio))
    not_found = set(rng.sample(answered, round(len(answered) * v.not_found_share)))
    for i in answered:
        query = events[i]
        delay = answer_delay(v.answer_delay_minutes * 60, office.closing - query.at, rng)
        result = "not_found" if i in not_found else "found"
        events.append(Event(query.at + delay, "feedback", query.other, result, query.ref))
    return events


def answer_delay(mean: float, room: float, rng: random.Random) -> float:
    """Exponential with ``mean``, truncated to ``room`` (the answer comes before closing)."""
    if room <= 0:
        return 0.0
    return -mean * math.log(1.0 - rng.random() * (1.0 - math.exp(-room / mean)))


def _lookups(profile: Profile, counties: Sequence[str], in_w: Sequence[float],
             office: TimeOfDay, rng: random.Random) -> list[Event]:  # fmt: skip
    """Counties of residence look up people they registered (their preloaded records)."""
    v = profile.volumes
    total = month_end(profile, v.lookups_per_county_per_day)
    stock = max(1, v.preload_records_per_county)
    return [Event(office.draw(rng), "lookup", county, n=rng.randrange(stock))
            for county in rng.choices(counties, weights=in_w, k=total)]  # fmt: skip


def _exports(profile: Profile, admins: Sequence[str], office: TimeOfDay,
             rng: random.Random) -> list[Event]:  # fmt: skip
    v = profile.volumes
    total = round(len(admins) * v.exports_per_admin_per_day * v.month_end_factor)
    return [Event(office.draw(rng), "export", admins[i % len(admins)],
                  EXPORT_FORMATS[i % len(EXPORT_FORMATS)]) for i in range(total)]  # fmt: skip


def apportion(total: int, shares: Sequence[float]) -> list[int]:
    """``total`` split by ``shares`` into whole numbers summing to ``total`` (largest remainder)."""
    exact = [total * s / (sum(shares) or 1.0) for s in shares]
    whole = [math.floor(x) for x in exact]
    by_remainder = sorted(range(len(shares)), key=lambda i: whole[i] - exact[i])
    for i in by_remainder[: total - sum(whole)]:
        whole[i] += 1
    return whole


# -- the window the bench plays ------------------------------------------------------------
def window(day: Day, start: float, seconds: float) -> Window:
    """The events in ``[start, start + seconds)``, and the earlier queries whose answers
    fall inside (posted before the window, untimed, so that those answers have something
    to answer)."""
    end = start + seconds
    events = tuple(e for e in day.events if start <= e.at < end)
    answered = {e.ref for e in events if e.step == "feedback"}
    backlog = tuple(e for e in day.events
                    if e.step == "query" and e.at < start and e.ref in answered)  # fmt: skip
    return Window(start, seconds, backlog, events)
