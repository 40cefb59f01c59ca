"""The bodies a nation-scale run sends: records, queries, look-ups, answers.

Every person is a function of (registering county, seq), so a look-up finds a
record the county pushed and a run can be repeated: a valid GB 11643 ID number
whose first six digits are the household-registration county (a current code of
the hub's catalogue), a birth date, and a sex digit the record agrees with.
Names, addresses and phones come from Faker ``zh_CN``. Dates are relative to
``exchange_hub.clock.today()``, never to the wall date.
"""

from __future__ import annotations

import json
import random
from datetime import date, timedelta
from typing import Any

from faker import Faker

from exchange_hub import clock
from exchange_hub.id_numbers import expected_check_character

CONTRACEPTION = ("iud", "iud", "sterilisation", "implant", "pill", "condom", "none", "other")
BORN_FROM = date(1965, 1, 1)
QUERY_SEQ = 900_000  # seqs of query subjects, apart from the records' seqs


class People:
    """Deterministic people and records for the counties of one day's plan."""

    def __init__(self, counties: tuple[str, ...], out_weights: tuple[float, ...],
                 in_weights: tuple[float, ...], inflow_share: float) -> None:  # fmt: skip
        self.counties, self.out_w, self.in_w = counties, out_weights, in_weights
        self.inflow_share = inflow_share
        fake = Faker("zh_CN")
        fake.seed_instance(2026)
        self.names = [fake.name() for _ in range(500)]
        self.addresses = [fake.address().replace("\n", " ") for _ in range(200)]
        self.phones = [fake.phone_number() for _ in range(200)]
        self.today = clock.today()

    def is_inflow(self, seq: int) -> bool:
        return (seq * 37) % 100 < self.inflow_share * 100

    def hukou_of(self, county: str, seq: int) -> str:
        """Where record ``seq`` of ``county`` is registered: itself for an outflow; for an
        inflow a county drawn by the outflow shares (another one)."""
        if not self.is_inflow(seq):
            return county
        rng = random.Random(f"{county}:{seq}")
        origin = rng.choices(self.counties, weights=self.out_w)[0]
        return origin if origin != county else self.counties[self.counties.index(county) - 1]

    def id_number(self, hukou: str, county: str, seq: int) -> str:
        born = BORN_FROM + timedelta(days=(int(county) * 7919 + (seq // 1000) * 13) % 12_000)
        first17 = f"{hukou}{born:%Y%m%d}{seq % 1000:03d}"
        return first17 + str(expected_check_character(first17))

    def record(self, county: str, seq: int) -> dict[str, Any]:
        hukou = self.hukou_of(county, seq)
        number = self.id_number(hukou, county, seq)
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
        person = {
            "id_number": number, "name": self.names[seq % len(self.names)],
            "sex": "M" if int(number[16]) % 2 else "F", "birth_date": born.isoformat(),
            "marital_status": ("10", "20", "20", "20", "40")[seq % 5],
            "phone": self.phones[seq % len(self.phones)],
            "address": self.addresses[seq % len(self.addresses)],
            "children_count": (0, 1, 1, 2, 2, 3)[seq % 6],
            "contraception": CONTRACEPTION[seq % len(CONTRACEPTION)],
            "pregnancy_status": "pregnant" if seq % 10 == 3 else "not_pregnant",
        }  # fmt: skip
        moved = (self.today - timedelta(days=1 + seq % 300)).isoformat()
        certificate = {"number": f"{county}{seq:08d}", "issued_by": hukou,
                       "issued_on": (self.today - timedelta(days=730)).isoformat(),
                       "valid_until": (self.today + timedelta(days=730)).isoformat()}  # fmt: skip
        if hukou != county:
            return {"kind": "inflow", "person": person, "hukou_region": hukou,
                    "residence_region": county, "moved_on": moved, "certificate": certificate,
                    "certificate_checked": True}  # fmt: skip
        rng = random.Random(f"{county}:{seq}:to")
        destination = rng.choices(self.counties, weights=self.in_w)[0]
        return {"kind": "outflow", "person": person, "hukou_region": county,
                "residence_region": destination[:2] + "0000", "moved_on": moved,
                "certificate": certificate}  # fmt: skip

    def batch(self, county: str, first: int, n: int) -> bytes:
        """NDJSON of records ``first`` … ``first + n - 1`` of ``county``."""
        lines = (json.dumps(self.record(county, seq), ensure_ascii=False)
                 for seq in range(first, first + n))  # fmt: skip
        return ("\n".join(lines) + "\n").encode()

    def lookup(self, county: str, seq: int) -> dict[str, Any]:
        number = self.id_number(self.hukou_of(county, seq), county, seq)
        return {"id_number": number, "purpose": "核实流入人员户籍信息，办理基本公共服务"}

    def query(self, sender: str, origin: str, case_ref: str, seq: int) -> dict[str, Any]:
        """协查 to the household-registration county about someone living in ``sender``."""
        return {
            "kind": "query", "urgency": "normal",
            "subject": {"id_number": self.id_number(origin, sender, QUERY_SEQ + seq)},
            "to_region": origin, "purpose": "核实婚育情况，办理基本公共服务",
            "case_ref": case_ref,
        }  # fmt: skip
