"""Sending a nation-scale plan: keep-alive ``httpx`` clients in threads, in a few
processes, each process playing the counties given to it.

A process gets its share of the events (those its counties send, and its admins'
exports) and plays them on a thread pool: in a paced phase each event is started
when its simulated time comes (``start_at`` + simulated offset / scale, on the
system-wide monotonic clock, so the processes keep in step); in an unpaced one as
fast as the threads go. What a county remembers between requests (its change-feed
cursor, the queries its inbox handed it) is kept under a lock of that county.

Every answer that is not what the step expects counts as an error, by step and
status, with the first few kept whole.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench._nation_payloads import People
from bench._nation_plan import Event

INBOX = "/api/v1/inbox?state=submitted&kind=query&order=arrival&limit=200"
ANSWER_PATIENCE = 30.0  # seconds an answer waits for its query to reach the inbox


@dataclass(frozen=True)
class Share:
    """One process's part of a phase."""

    url: str
    keys: dict[str, str]  # county or admin region -> API key
    people: tuple[tuple[str, ...], tuple[float, ...], tuple[float, ...], float]
    events: tuple[Event, ...]
    window_start: float  # simulated seconds of day at start_at
    scale: float
    start_at: float | None  # time.monotonic() of the window's start; None: unpaced
    threads: int
    timeout: float
    period: str  # the month the admins export


@dataclass
class Outcome:
    latency: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    lag: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    first_errors: list[str] = field(default_factory=list)
    records: int = 0
    done: int = 0
    last_done: float = 0.0

    def merge(self, other: Outcome) -> None:
        for step, values in other.latency.items():
            self.latency[step].extend(values)
        self.lag += other.lag
        self.errors.update(other.errors)
        self.first_errors += other.first_errors[: max(0, 5 - len(self.first_errors))]
        self.records += other.records
        self.done += other.done
        self.last_done = max(self.last_done, other.last_done)


class Player:
    """Plays one share; ``play`` returns what it measured."""

    def __init__(self, share: Share) -> None:
        self.share = share
        self.people = _people(share.people)
        self.out = Outcome()
        self.mutex = threading.Lock()
        self.county_locks: dict[str, threading.Lock] = defaultdict(threading.Lock)
        self.cursors: dict[str, str] = {}
        self.seen: dict[str, dict[str, str]] = defaultdict(dict)  # origin -> case_ref -> id
        self.local = threading.local()

    def play(self) -> Outcome:
        share = self.share
        with ThreadPoolExecutor(share.threads) as pool:
            for event in share.events:
                due = None
                if share.start_at is not None:
                    due = share.start_at + (event.at - share.window_start) / share.scale
                    time.sleep(max(0.0, due - time.monotonic()))
                pool.submit(self._run, event, due)
        return self.out

    # -- one event -----------------------------------------------------------------------
    def _run(self, event: Event, due: float | None) -> None:
        if due is not None:
            lag = time.monotonic() - due
            with self.mutex:
                self.out.lag.append(lag)
        try:
            getattr(self, f"_{event.step}")(event)
        except Exception as exc:  # a bench reports every failure and goes on
            self._error(event.step, "exception", repr(exc))
        with self.mutex:
            self.out.done += 1
            self.out.last_done = time.monotonic()

    def _client(self) -> httpx.Client:
        client = getattr(self.local, "client", None)
        if client is None:
            client = httpx.Client(base_url=self.share.url, timeout=self.share.timeout)
            self.local.client = client
        return client

    def _call(self, step: str, who: str, method: str, path: str, expected: int,
              **kwargs: Any) -> httpx.Response | None:  # fmt: skip
        headers = {"Authorization": f"Bearer {self.share.keys[who]}", **kwargs.pop("headers", {})}
        started = time.perf_counter()
        try:
            response = self._client().request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            self._error(step, type(exc).__name__, repr(exc))
            return None
        elapsed = time.perf_counter() - started
        if response.status_code != expected:
            self._error(step, str(response.status_code), response.text[:300])
            return None
        with self.mutex:
            self.out.latency[step].append(elapsed)
        return response

    def _error(self, step: str, status: str, detail: str) -> None:
        with self.mutex:
            self.out.errors[f"{step} {status}"] += 1
            if len(self.out.first_errors) < 5:
                self.out.first_errors.append(f"{step} {status}: {detail}")

    # -- the steps -----------------------------------------------------------------------
    def _batch(self, event: Event) -> None:
        body = self.people.batch(event.county, event.first, event.n)
        ndjson = {"Content-Type": "application/x-ndjson"}
        answer = self._call(
            "batch",
            event.county,
            "POST",
            "/api/v1/records/batch",
            200,
            content=body,
            headers=ndjson,
        )
        if answer is None:
            return
        result = answer.json()
        if result.get("accepted") != event.n or result.get("rejected"):
            self._error("batch", "rejected lines", str(result.get("rejected"))[:300])
        with self.mutex:
            self.out.records += int(result.get("accepted", 0))

    def _query(self, event: Event) -> None:
        body = self.people.query(event.county, event.other, event.ref, event.n)
        self._call("query", event.county, "POST", "/api/v1/messages", 201, json=body)

    def _feedback(self, event: Event) -> None:
        message_id = self._find_in_inbox(event.county, event.ref)
        if message_id is None:
            self._error("feedback", "query not in the inbox", event.ref)
            return
        self._call("feedback", event.county, "POST", f"/api/v1/messages/{message_id}/feedback",
                   200, json={"result": event.other})  # fmt: skip

    def _find_in_inbox(self, origin: str, case_ref: str) -> str | None:
        """The query's id: from an earlier pull, else pulling the county's new items
        (again, while its sender may still be posting it)."""
        give_up = time.monotonic() + ANSWER_PATIENCE
        while True:
            with self.county_locks[origin]:
                if case_ref in self.seen[origin]:
                    return self.seen[origin].pop(case_ref)
                self._pull_inbox(origin)
                if case_ref in self.seen[origin]:
                    return self.seen[origin].pop(case_ref)
            if time.monotonic() > give_up:
                return None
            time.sleep(0.2)

    def _pull_inbox(self, origin: str) -> None:
        cursor = ""
        for _page in range(50):
            page = self._call("inbox", origin, "GET", INBOX + cursor, 200)
            if page is None:
                return
            answer = page.json()
            for item in answer["items"]:
                self.seen[origin][item.get("case_ref") or item["id"]] = item["id"]
            if not answer.get("next_cursor"):
                return
            cursor = f"&cursor={answer['next_cursor']}"

    def _drain(self, event: Event) -> None:
        """Take in what the county's inbox holds (untimed, before the window)."""
        self._pull_inbox(event.county)

    def _lookup(self, event: Event) -> None:
        body = self.people.lookup(event.county, event.n)
        answer = self._call(
            "lookup", event.county, "POST", "/api/v1/persons/lookup", 200, json=body
        )
        if answer is not None and not answer.json()["matches"]:
            self._error("lookup", "no match", body["id_number"][:6])

    def _changes(self, event: Event) -> None:
        with self.county_locks[f"changes:{event.county}"]:
            for _page in range(20):
                since = self.cursors.get(event.county)
                path = "/api/v1/changes?limit=500" + (f"&since={since}" if since else "")
                page = self._call("changes", event.county, "GET", path, 200)
                if page is None:
                    return
                answer = page.json()
                self.cursors[event.county] = answer["next_cursor"]
                if len(answer["items"]) < 500:
                    return

    def _export(self, event: Event) -> None:
        region, period = event.county, self.share.period
        if event.other == "figures":
            path = f"/api/v1/metrics/exchange?region={region}&period={period}"
        else:
            path = f"/api/v1/bulletin?region={region}&period={period}&format={event.other}"
        self._call("export", region, "GET", path, 200)


_PEOPLE: dict[int, People] = {}


def _people(spec: tuple[tuple[str, ...], tuple[float, ...], tuple[float, ...], float]) -> People:
    """One ``People`` per process and plan (Faker takes a moment to start)."""
    key = hash(spec)
    if key not in _PEOPLE:
        _PEOPLE[key] = People(*spec)
    return _PEOPLE[key]


def play(share: Share) -> Outcome:
    """In a pool process: play ``share`` and return what it measured."""
    return Player(share).play()
