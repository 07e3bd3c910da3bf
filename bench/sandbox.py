"""How the sandbox's signup path scales with the size of an account.

Starts ``billport sandbox`` as a separate process, fills one account with 100 and another with
10,000 customers that each have a subscription, then times "create a customer, then subscribe
it to a plan" against both. A sandbox whose hot paths scan every object slows down with the
big account; one with indexed look-ups keeps the ratio near 1.

Run alone with ``python -m bench.sandbox``.
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from bench.common import figure, sandbox_process

SMALL, LARGE = 100, 10_000
# Few enough that the small account stays small while it is measured.
MEASURE_ROUNDS = 300
FILL_THREADS = 4


class Account:
    """One sandbox account driven over keep-alive HTTP connections."""

    def __init__(self, url: str, name: str) -> None:
        self.url = url
        self.name = name
        self.headers = {"Authorization": f"Bearer sk_test_{name}"}
        self.client = httpx.Client(base_url=url, headers=self.headers, timeout=60)
        self.price_id = ""

    def post(self, path: str, data: dict[str, str], client: httpx.Client | None = None) -> Any:
        answer = (client or self.client).post(path, data=data)
        if answer.status_code != 200:
            raise RuntimeError(f"POST {path} answered {answer.status_code}: {answer.text}")
        return answer.json()

    def make_plan(self) -> None:
        price = self.post(
            "/v1/prices",
            {
                "product_data[name]": "Bench plan",
                "currency": "usd",
                "unit_amount": "1500",
                "recurring[interval]": "month",
            },
        )
        self.price_id = price["id"]

    def subscribe_one(self, client: httpx.Client | None = None) -> None:
        """The measured unit: a new customer, then a trialing subscription for it."""
        customer = self.post("/v1/customers", {"email": "bench@example.com"}, client)
        self.post(
            "/v1/subscriptions",
            {
                "customer": customer["id"],
                "items[0][price]": self.price_id,
                "trial_period_days": "14",
            },
            client,
        )

    def fill(self, count: int) -> None:
        def work(share: int) -> None:
            with httpx.Client(base_url=self.url, headers=self.headers, timeout=60) as client:
                for _ in range(share):
                    self.subscribe_one(client)

        shares = [count // FILL_THREADS + (i < count % FILL_THREADS) for i in range(FILL_THREADS)]
        with ThreadPoolExecutor(FILL_THREADS) as pool:
            list(pool.map(work, shares))

    def rate(self) -> float:
        """Sign-ups per second, one after another, as a single client sees them."""
        for _ in range(10):
            self.subscribe_one()
        started = time.perf_counter()
        for _ in range(MEASURE_ROUNDS):
            self.subscribe_one()
        return MEASURE_ROUNDS / (time.perf_counter() - started)


def run() -> list[dict[str, Any]]:
    """Figures ``sandbox_subscribe_per_s_100`` and ``sandbox_subscribe_per_s_10000``."""
    with sandbox_process() as url:
        tag = uuid.uuid4().hex[:8]
        small, large = Account(url, f"bench{tag}s"), Account(url, f"bench{tag}l")
        for account, count in ((small, SMALL), (large, LARGE)):
            account.make_plan()
            account.fill(count)
        small_rate = small.rate()
        large_rate = large.rate()
    return [
        figure("sandbox_subscribe_per_s_100", small_rate, "subscribes/s"),
        figure("sandbox_subscribe_per_s_10000", large_rate, "subscribes/s", baseline=small_rate),
    ]


def main() -> None:
    started = time.monotonic()
    figures = run()
    for row in figures:
        print(f"{row['name']:<32} {row['value']:>10} {row['unit']}")
    print(f"{'ratio 10000 / 100':<32} {figures[1]['ratio']:>10}")
    print(f"(took {time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
