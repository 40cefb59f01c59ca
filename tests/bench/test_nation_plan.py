"""The nation-scale bench's plan matches its profile: volumes, the office-hours shape,
the skew of migration, the window it plays; and every body it would send is valid.

No server, no database: ``bench/_nation_plan.py`` is pure, so the plan is checked
here and ``bench.nation --smoke`` (tests/bench/test_smoke.py) only has to show that
it can be sent.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

import pytest
from bench._nation_payloads import People
from bench._nation_plan import (
    OFFICE_STEPS,
    Day,
    apportion,
    intensity,
    pick_admins,
    pick_counties,
    plan_day,
    window,
)
from bench._nation_profile import PROFILES, Profile, load_profile

from exchange_hub import clock as hub_clock
from exchange_hub.exchange.schemas import MessageCreate
from exchange_hub.id_numbers import parse_id_number
from exchange_hub.records.schemas import LookupRequest, RecordIn
from exchange_hub.region_codes import bundled_catalogue, level_of


@pytest.fixture(scope="module")
def province() -> Profile:
    return load_profile(PROFILES / "province.toml")


@pytest.fixture(scope="module")
def day(province: Profile) -> Day:
    return plan_day(province)


def steps(day: Day, step: str) -> list[float]:
    return [e.at for e in day.events if e.step == step]


def month_end(profile: Profile, per_county: float) -> int:
    return round(profile.counties * per_county * profile.volumes.month_end_factor)


# -- volumes ---------------------------------------------------------------------------------
def test_the_day_holds_the_profiles_volumes(province: Profile, day: Day) -> None:
    v = province.volumes
    counts = Counter(e.step for e in day.events)
    queries = month_end(province, v.queries_per_county_per_day)
    assert counts["query"] == queries
    assert counts["feedback"] == round(queries * v.answer_ratio)
    assert counts["lookup"] == month_end(province, v.lookups_per_county_per_day)
    assert counts["changes"] == province.counties * v.change_pulls_per_county_per_day
    assert counts["export"] == round(province.admins * v.exports_per_admin_per_day * 3.0)
    batches = [e for e in day.events if e.step == "batch"]
    assert sum(e.n for e in batches) == province.counties * v.records_per_county_per_day
    assert all(e.first == v.preload_records_per_county for e in batches)
    results = Counter(e.other for e in day.events if e.step == "feedback")
    assert results["not_found"] == round(counts["feedback"] * v.not_found_share)


def test_every_county_syncs_at_even_intervals_round_the_clock(province: Profile, day: Day) -> None:
    every = 86_400 / province.volumes.change_pulls_per_county_per_day
    county = day.counties[0]
    times = sorted(e.at for e in day.events if e.step == "changes" and e.county == county)
    assert all(abs(b - a - every) < 1e-6 for a, b in pairwise(times))
    assert 0 <= times[0] < every and times[-1] < 86_400


def test_the_same_seed_gives_the_same_plan(province: Profile, day: Day) -> None:
    assert plan_day(province).events == day.events
    assert plan_day(province, seed=7).events != day.events


def test_apportion_keeps_the_total() -> None:
    assert apportion(10, [0.5, 0.3, 0.2]) == [5, 3, 2]
    assert sum(apportion(1001, [1 / 3] * 3)) == 1001
    assert apportion(0, [1.0, 2.0]) == [0, 0]


# -- when ------------------------------------------------------------------------------------
def test_office_steps_keep_office_hours_with_a_lunch_dip(province: Profile, day: Day) -> None:
    level = intensity(province)
    office_minutes = [m for m, v in enumerate(level) if v == 1.0]
    lunch_from, lunch_to = province.clock.lunch
    for step in OFFICE_STEPS:
        assert all(level[int(at // 60)] > 0 for at in steps(day, step)), step
    minutes = Counter(int(at // 60) for step in ("query", "lookup") for at in steps(day, step))
    per_office_minute = sum(minutes[m] for m in office_minutes) / len(office_minutes)
    per_lunch_minute = sum(minutes[m] for m in range(lunch_from, lunch_to)) / (
        lunch_to - lunch_from
    )
    assert per_lunch_minute == pytest.approx(per_office_minute * 0.25, rel=0.15)
    assert not minutes[7 * 60] and not minutes[20 * 60]  # before opening, after closing


def test_night_batches_and_answers_after_their_queries(province: Profile, day: Day) -> None:
    night_from, night_to = province.clock.night
    assert all(night_from * 60 <= at < night_to * 60 for at in steps(day, "batch"))
    asked = {e.ref: e for e in day.events if e.step == "query"}
    closing = max(end for _start, end in province.clock.office) * 60
    for answer in (e for e in day.events if e.step == "feedback"):
        query = asked[answer.ref]
        assert query.at <= answer.at <= closing
        assert answer.county == query.other  # the household-registration county answers
    delays = [a.at - asked[a.ref].at for a in day.events if a.step == "feedback"]
    assert 30 * 60 < sum(delays) / len(delays) < 90 * 60  # truncated at closing: below the mean


def test_the_window_and_the_queries_its_answers_need(province: Profile, day: Day) -> None:
    start, seconds = 10 * 3600.0, 600.0
    played = window(day, start, seconds)
    assert played.events and all(start <= e.at < start + seconds for e in played.events)
    assert {e.step for e in played.events} >= {"query", "feedback", "lookup", "changes"}
    needed = {e.ref for e in played.events if e.step == "feedback"}
    earlier = {e.ref for e in played.backlog}
    inside = {e.ref for e in played.events if e.step == "query"}
    assert needed <= earlier | inside and not earlier & inside
    assert all(e.step == "query" and e.at < start for e in played.backlog)


# -- who, and the skew of migration ----------------------------------------------------------
def test_counties_are_current_codes_of_the_catalogue(province: Profile) -> None:
    current = {e.code for e in bundled_catalogue() if e.active and level_of(e.code) == "county"}
    counties = pick_counties(province)
    assert len(set(counties)) == province.counties == 120
    assert set(counties) <= current and all(c.startswith("44") for c in counties)
    nation = load_profile(PROFILES / "nation.toml")
    assert set(pick_counties(nation)) == current  # every current county
    assert pick_admins(nation, pick_counties(nation))[:2] == ("000000", "510000")
    assert pick_admins(province, counties)[0] == "440000"


def test_queries_follow_the_migration_shares(province: Profile, day: Day) -> None:
    queries = [e for e in day.events if e.step == "query"]
    answered_by = Counter(e.other[:4] for e in queries)
    asked_by = Counter(e.county[:4] for e in queries)
    for prefix, share in province.migration.out.items():
        assert answered_by[prefix] / len(queries) == pytest.approx(share, abs=0.03), prefix
    for prefix, share in province.migration.into.items():
        assert asked_by[prefix] / len(queries) == pytest.approx(share, abs=0.03), prefix
    assert all(e.county != e.other for e in queries)
    # Zipf inside a region: its busiest county asks several times as often as its quietest.
    shenzhen = Counter(e.county for e in queries if e.county.startswith("4403"))
    assert max(shenzhen.values()) > 3 * min(shenzhen.values())


def test_the_nation_flows_from_the_west_to_the_coast() -> None:
    nation = load_profile(PROFILES / "nation.toml")
    small = replace(nation, volumes=replace(nation.volumes, queries_per_county_per_day=2.0,
                                            lookups_per_county_per_day=0.0,
                                            change_pulls_per_county_per_day=0))  # fmt: skip
    queries = [e for e in plan_day(small).events if e.step == "query"]
    origins = Counter(e.other[:2] for e in queries)
    destinations = Counter(e.county[:2] for e in queries)
    assert origins["51"] / len(queries) == pytest.approx(0.13, abs=0.02)  # Sichuan
    assert destinations["44"] / len(queries) == pytest.approx(0.30, abs=0.02)  # Guangdong
    assert destinations["44"] > 10 * destinations["51"]


# -- the profile file ------------------------------------------------------------------------
def test_a_profile_mistake_names_its_key(tmp_path: Path) -> None:
    text = (PROFILES / "tiny.toml").read_text(encoding="utf-8")
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace('"51" = 0.8', '"51" = 1.8'), encoding="utf-8")
    with pytest.raises(ValueError, match=r"migration\.out"):
        load_profile(bad)
    bad.write_text(text.replace("answer_ratio = 0.8", "answer_ratio = 2"), encoding="utf-8")
    with pytest.raises(ValueError, match="answer_ratio"):
        load_profile(bad)
    bad.write_text(text.replace('start = "10:00"', 'start = "23:55"'), encoding="utf-8")
    with pytest.raises(ValueError, match="24:00"):
        load_profile(bad)
    # Dongguan (4419) has no county-level code: a share there would silently go elsewhere.
    bad.write_text(text.replace('"44" = 0.8', '"4419" = 0.8'), encoding="utf-8")
    with pytest.raises(ValueError, match="4419"):
        plan_day(load_profile(bad))


# -- the bodies ------------------------------------------------------------------------------
def test_every_body_is_valid_at_any_date(
    province: Profile, day: Day, clock: hub_clock.Clock
) -> None:
    clock.pin(datetime(2031, 2, 28, 9, 0, tzinfo=UTC))
    people = People(day.counties, day.out_weights, day.in_weights, province.volumes.inflow_share)
    regions = {e.code for e in bundled_catalogue()}
    kinds: Counter[str] = Counter()
    for county in day.counties[:10]:
        for seq in range(40):
            record = RecordIn.model_validate(people.record(county, seq))
            kinds[record.kind] += 1
            number = parse_id_number(record.person.id_number, policy="strict", regions=regions)
            assert number.number[:6] == (record.hukou_region or county)
            assert record.moved_on is not None and record.moved_on.year in (2030, 2031)
            LookupRequest.model_validate(people.lookup(county, seq))
        query = people.query(county, day.counties[-1], "q1", 5)
        MessageCreate.model_validate(query)
        assert query["subject"]["id_number"][:6] == day.counties[-1]
    assert kinds["inflow"] / sum(kinds.values()) == pytest.approx(0.5, abs=0.05)
    batch = people.batch(day.counties[0], 500, 3).decode().splitlines()
    assert len(batch) == 3 and len({line for line in batch}) == 3
