"""The load test, bounded: users running the whole journey at once lose and double nothing.

The sandbox, the portal (with its callback worker, on this module's database) and the
tenants' callback receiver run as processes of their own; see ``bench/load.py``. Whatever
the machine's speed, no request may fail, no user may get two customers or two
subscriptions, and every action reaches the tenant exactly once.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from bench.load import Report, load_test


def run(**arguments: Any) -> Report:
    """The load test in a thread of its own: browser tests hold an event loop in this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(load_test, **arguments).result()


def check(report: Report) -> None:
    assert report.journeys > 0, report.text()
    assert report.error_count == 0, report.text()
    assert report.duplicate_count == 0, report.text()


def test_a_few_users_at_once(database_url: str) -> None:
    check(run(users=8, seconds=10, tenants=2, database_url=database_url))


@pytest.mark.long
def test_sixty_four_users_for_a_minute(database_url: str) -> None:
    check(run(users=64, seconds=60, tenants=4, database_url=database_url))
