"""Demo data for the embedded default: a few member systems across provinces."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange_hub.context import HubContext
from exchange_hub.members import service as members
from exchange_hub.metrics.demo_traffic import seed_demo_traffic
from exchange_hub.models import Member

DEMO_MEMBERS: list[dict[str, str]] = [
    {"name": "北京市朝阳区人口计生局", "role": "county", "region": "110105"},
    {"name": "深圳市南山区卫生健康局", "role": "county", "region": "440305"},
    {"name": "广州市天河区卫生健康局", "role": "county", "region": "440106"},
    {"name": "成都市双流区卫生健康局", "role": "county", "region": "510116"},
    {"name": "镇平县卫生健康委", "role": "county", "region": "411324"},
    {"name": "南山区公安分局", "role": "department", "region": "440305", "department": "police"},
    {
        "name": "南山区卫生健康局(医院)",
        "role": "department",
        "region": "440305",
        "department": "health",
    },
    {"name": "广东省卫生健康委", "role": "admin", "region": "440000"},
    {"name": "河南省卫生健康委", "role": "admin", "region": "410000"},
    {"name": "国家卫生健康委流动人口司", "role": "admin", "region": "000000"},
]


def seed_demo(session: Session, hub: HubContext) -> dict[str, str]:
    """Create the demo members, or give the existing ones fresh keys; returns name → key."""
    keys: dict[str, str] = {}
    for spec in DEMO_MEMBERS:
        existing = session.scalar(select(Member).where(Member.name == spec["name"]))
        if existing is None:
            issued = members.add_member(session, **spec)
        else:
            issued = members.rotate_key(session, existing.id)
        keys[spec["name"]] = issued.api_key
    seed_demo_traffic(session, hub.keyring)
    return keys
