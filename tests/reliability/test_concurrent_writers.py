"""Batches and single writes at the same time, nothing failing: no request may be refused.

With the database up and no fault injected, a county's nightly batch and
other counties' single records and queries running side by side must all
succeed at the first attempt. A 503 here means the hub's own transactions
got in each other's way (for example two advisory locks taken in opposite
orders: PostgreSQL breaks the deadlock by failing one of them).
"""

from __future__ import annotations

import threading
import time

from tests.reliability.harness import HubServer, RetryingClient, add_member
from tests.reliability.summary import Figures
from tests.reliability.workload import County, Ledger, People

SECONDS = 20.0


def batches(county: County, stop: threading.Event) -> None:
    partners = ["440305"]
    for n in range(200):
        if stop.is_set():
            return
        records = list(county.records_to_push(40, partners))
        county.push_batch(records, f"cw-batch-{county.region}-{n}")


def singles(county: County, stop: threading.Event) -> None:
    partners = ["440305"]
    for n in range(2000):
        if stop.is_set():
            return
        record = next(iter(county.records_to_push(10, partners)))  # an outflow
        county.push_one(record, f"cw-one-{county.region}-{n}")
        county.send_query("440305", f"cw-{county.region}-{n}")


def test_concurrent_batches_and_single_writes_are_never_refused(
    hub_server: HubServer, figures: Figures
) -> None:
    ledger, people = Ledger(), People(seed=41)
    counties = []
    for region in ("110105", "310115", "510107"):
        member = add_member(hub_server, role="county", region=region)
        # One attempt only: any refusal is the finding, not something to retry past.
        client = RetryingClient(hub_server.url, member.api_key, attempts=1)
        counties.append(County(region, member.api_key, client, ledger, people))
    add_member(hub_server, role="county", region="440305")
    stop = threading.Event()
    threads = [
        threading.Thread(target=batches, args=(counties[0], stop)),
        threading.Thread(target=singles, args=(counties[1], stop)),
        threading.Thread(target=singles, args=(counties[2], stop)),
    ]
    for thread in threads:
        thread.start()
    time.sleep(SECONDS)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    for county in counties:
        county.client.close()
    stats = counties[0].client.stats
    for county in counties[1:]:
        stats.merge(county.client.stats)
    figures.records = len(ledger.records)
    figures.messages = len(ledger.sent)
    figures.notes.append(f"answers {dict(sorted(stats.statuses.items()))}")
    assert stats.requests > 0
    refused = {k: v for k, v in stats.refusals.items()}
    assert not refused, f"refused while nothing was failing: {refused}"
    assert ledger.failures == []
