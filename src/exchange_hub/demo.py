"""Demo data for the embedded default: a few member systems across provinces."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy.orm import Session

from exchange_hub import clock, id_numbers
from exchange_hub.context import HubContext
from exchange_hub.members import service as members
from exchange_hub.metrics.demo_traffic import MONTHS, seed_demo_traffic
from exchange_hub.periods import month_of
from exchange_hub.records import schemas as records_schemas
from exchange_hub.records import service as records
from exchange_hub.reports.demo import seed_demo_reports
from exchange_hub.scope import Caller


@dataclass(frozen=True)
class DemoMember:
    name: str
    role: str
    region: str
    department: str | None = None


DEMO_MEMBERS: list[DemoMember] = [
    DemoMember("北京市朝阳区人口计生局", "county", "110105"),
    DemoMember("深圳市南山区卫生健康局", "county", "440305"),
    DemoMember("广州市天河区卫生健康局", "county", "440106"),
    DemoMember("成都市双流区卫生健康局", "county", "510116"),
    DemoMember("镇平县卫生健康委", "county", "411324"),
    DemoMember("南山区公安分局", "department", "440305", "police"),
    DemoMember("南山区卫生健康局(医院)", "department", "440305", "health"),
    DemoMember("广东省卫生健康委", "admin", "440000"),
    DemoMember("河南省卫生健康委", "admin", "410000"),
    DemoMember("国家卫生健康委流动人口司", "admin", "000000"),
]


def demo_periods() -> tuple[str, str]:
    """The months the demo covers, as ``(first, last full month)``: six months back
    from the hub's clock, whatever day the demo is made; the last full month is
    the one to try (the console opens on it)."""
    last_full = month_of(clock.now()).preceding()
    first = last_full
    for _ in range(MONTHS - 1):
        first = first.preceding()
    return first.label, last_full.label


def seed_demo(session: Session, hub: HubContext) -> dict[str, str]:
    """Create the demo members, or give the existing ones fresh keys; returns name → key."""
    keys: dict[str, str] = {}
    for spec in DEMO_MEMBERS:
        existing = members.find_by_name(session, spec.name)
        if existing is None:
            issued = members.add_member(
                session, name=spec.name, role=spec.role, region=spec.region,
                department=spec.department,
            )  # fmt: skip
        else:
            issued = members.rotate_key(session, existing.id)
        keys[spec.name] = issued.api_key
    seed_demo_traffic(session, hub.keyring)
    seed_demo_records(session)
    seed_demo_reports(session, counties=DEMO_COUNTIES)
    return keys


# -- demo records and department reports ----------------------------------------
DEMO_COUNTIES = ("110105", "440305", "440106", "510116", "411324")
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
_GIVEN = (
    "伟",
    "芳",
    "娜",
    "秀英",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "娟",
)
# Where people move: (household county, residence county).
_MOVES = (("411324", "440305"), ("510116", "440106"), ("411324", "440106"), ("510116", "110105"))


def _demo_person(rng: random.Random, hukou: str) -> dict[str, object]:
    born = date(rng.randint(1970, 2003), rng.randint(1, 12), rng.randint(1, 28))
    sequence = f"{rng.randint(0, 99):02d}{rng.choice('02468')}"  # women: an even 17th digit
    first17 = f"{hukou}{born:%Y%m%d}{sequence}"
    return {
        "id_number": first17 + id_numbers.expected_check_character(first17),
        "name": rng.choice(_SURNAMES) + rng.choice(_GIVEN),
        "sex": "F",
        "birth_date": born.isoformat(),
        "marital_status": "20",
        "contraception": rng.choice(["iud", "implant", "pill", "condom", "none"]),
    }


def seed_demo_records(session: Session, *, per_move: int = 12, seed: int = 7) -> int:
    """Outflows registered by origin counties and inflows by destinations, spread over
    the last months, so the scorecard's certificate rates have something to show."""
    if records.has_records(session):
        return 0
    rng = random.Random(seed)
    now = clock.now()
    created = 0
    for hukou, residence in _MOVES:
        for n in range(per_move):
            person = _demo_person(rng, hukou)
            when = now - timedelta(days=rng.randint(3, 170))
            checked = rng.random() < 0.9
            certified = rng.random() < 0.92
            for kind, county in (("outflow", hukou), ("inflow", residence)):
                if kind == "outflow" and n % 4 == 3:
                    continue  # some people never registered as leaving: unmatched inflows
                moved = when.date() - timedelta(days=5)
                certificate = {"number": f"{hukou}-{n:04d}", "issued_by": hukou}
                body = {
                    "kind": kind, "person": person, "hukou_region": hukou,
                    "residence_region": residence, "moved_on": moved.isoformat(),
                    "certificate": certificate if certified else None,
                    "certificate_checked": checked if kind == "inflow" else None,
                }  # fmt: skip
                record, _ = records.create_record(
                    session,
                    _demo_county(county),
                    body=records_schemas.RecordIn.model_validate(body),
                )
                record.created_at = record.updated_at = when
                created += 1
    session.flush()
    return created


def _demo_county(region: str) -> Caller:
    return Caller(member_id=None, name=f"demo {region}", role="county", region=region)
