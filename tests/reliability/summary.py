"""The figures each reliability test reports, and the table printed at the end of the run.

A test asks for the ``figures`` fixture and fills in what it did (faults
injected, records and messages acknowledged, lost, duplicated, unexpected).
``conftest.py`` prints the table in the terminal summary and writes it to
``tests/artifacts/reliability-summary.md``, from where it is copied into the
README's "Reliability" section.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from exchange_hub.clock import CLOCK

ARTIFACT = Path(__file__).resolve().parents[1] / "artifacts" / "reliability-summary.md"
COMMAND = (
    "HUB_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1/test "
    ".venv/bin/pytest tests/reliability -m reliability -q"
)


@dataclass
class Figures:
    """What one test did and what it found."""

    test: str
    faults: int = 0
    records: int = 0
    messages: int = 0
    lost: int | None = None
    duplicated: int | None = None
    unexpected: int | None = None
    notes: list[str] = field(default_factory=list)
    outcome: str = "not run"
    seconds: float = 0.0
    cases: int = 0
    """pytest cases behind the row (parametrised cases share one row)."""
    cases_passed: int = 0


@dataclass
class Summary:
    rows: dict[str, Figures] = field(default_factory=dict)

    def row(self, nodeid: str) -> Figures:
        """One row per test function (parametrised cases share it)."""
        name = nodeid.split("tests/reliability/", 1)[-1].split("[", 1)[0]
        return self.rows.setdefault(name, Figures(test=name))

    def markdown(self) -> str:
        header = (
            "| test | result | faults injected | records | messages | lost | duplicated "
            "| unexpected | seconds |\n|---|---|---:|---:|---:|---:|---:|---:|---:|"
        )
        lines = [header]
        for figures in self.rows.values():
            lines.append(_line(figures))
        lines.append(_total(list(self.rows.values())))
        notes = [f"- `{f.test}`: {n}" for f in self.rows.values() for n in f.notes]
        # when the run happened, as the hub saw it (real time unless a test pinned it)
        stamp = CLOCK.now().strftime("%Y-%m-%d %H:%M UTC")
        text = "\n".join(lines) + f"\n\nMeasured {stamp} with `{COMMAND}`.\n"
        if notes:
            text += "\n" + "\n".join(notes) + "\n"
        return text

    def write(self) -> Path:
        ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
        ARTIFACT.write_text(self.markdown(), encoding="utf-8")
        return ARTIFACT


def _count(value: int | None) -> str:
    return "—" if value is None else str(value)


def _line(f: Figures) -> str:
    cells = [
        f"`{f.test}`", f.outcome, str(f.faults), str(f.records), str(f.messages),
        _count(f.lost), _count(f.duplicated), _count(f.unexpected), f"{f.seconds:.0f}",
    ]  # fmt: skip
    return "| " + " | ".join(cells) + " |"


def _total(rows: list[Figures]) -> str:
    def total(values: list[int | None]) -> str:
        known = [v for v in values if v is not None]
        return str(sum(known)) if known else "—"

    cases = sum(r.cases for r in rows)
    passed = sum(r.cases_passed for r in rows)
    cells = [
        f"**{cases} tests**", f"{passed} passed", str(sum(r.faults for r in rows)),
        str(sum(r.records for r in rows)), str(sum(r.messages for r in rows)),
        total([r.lost for r in rows]), total([r.duplicated for r in rows]),
        total([r.unexpected for r in rows]), f"{sum(r.seconds for r in rows):.0f}",
    ]  # fmt: skip
    return "| " + " | ".join(cells) + " |"


SUMMARY = Summary()
