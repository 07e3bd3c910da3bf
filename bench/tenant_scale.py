"""Many tenants: memory per portal process, and the plan picker at 10 and at 10,000 tenants.

Tenants and their catalogs (a real 20-price catalog read from the sandbox through the API,
copied with ids of its own for each tenant) are inserted through the ORM models, as
registering thousands through the API would check thousands of Stripe keys. Before anything
is measured, every tenant's plan picker is served once, so each catalog is in the process's
cache. Figures:

- ``portal_rss_mb_1000_tenants``: resident memory of a portal process that has served the
  plan pickers of 1,000 tenants, against a portal process without tenants (which answered
  ``/healthz`` and a plan picker request for an unknown key).
- ``plan_picker_rps_10000_tenants``: plan picker requests/second, the requests cycling over
  every tenant, with 10,000 tenants against 10 (two portal processes, measured in turns).
  A ratio below 1 means the picker gets slower as tenants are added.
- ``portal_rss_mb_10000_tenants``: resident memory of those two processes.
- ``portal_rss_kb_per_tenant``: what each tenant's cached catalog adds to a process, from the
  two, against the size of the catalog's JSON (the ratio is memory per stored byte).

Run alone with ``python -m bench.tenant_scale``.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx

from bench.common import figure, load_run, measure_cases, rss_mb, sandbox_process
from bench.plan_picker import visits
from bench.server import (
    TIERS_20,
    Portal,
    catalog_rows,
    create_tenant,
    insert_tenants,
    make_catalog,
    portal_process,
)

FEW, THOUSAND, MANY = 10, 1_000, 10_000


def warm(portal: Portal, keys: list[str]) -> float:
    """Serve every tenant's plan picker once; the process's memory afterwards, in MiB."""
    load_run(portal.url, visits(keys)(len(keys)), connections=8, once=True)
    time.sleep(0.5)
    return rss_mb(portal.pid)


def run() -> list[dict[str, Any]]:
    with sandbox_process() as sandbox:
        with portal_process() as empty:
            httpx.get(f"{empty.url}/healthz", timeout=30).raise_for_status()
            httpx.get(f"{empty.url}/w/plan-picker?key=bp_pub_unknown", timeout=30)
            time.sleep(0.5)
            empty_rss = rss_mb(empty.pid)
            account = "bench" + uuid.uuid4().hex[:8]
            make_catalog(sandbox, account, TIERS_20, euros=True)
            catalog = catalog_rows(empty, create_tenant(empty.url, sandbox, account))
        if len(catalog["prices"]) != 20:
            raise RuntimeError(f"the catalog has {len(catalog['prices'])} prices, not 20")
        catalog_bytes = len(json.dumps({k: catalog[k] for k in ("products", "prices")}))

        with portal_process() as thousand:
            thousand_rss = warm(thousand, insert_tenants(thousand, THOUSAND, catalog, sandbox))

        with portal_process() as few, portal_process() as many:
            few_keys = insert_tenants(few, FEW, catalog, sandbox)
            many_keys = insert_tenants(many, MANY, catalog, sandbox)
            page = httpx.get(f"{many.url}/w/plan-picker?key={many_keys[-1]}", timeout=30)
            if page.status_code != 200 or "Business" not in page.text:
                raise RuntimeError(f"an inserted tenant's plan picker: {page.status_code}")
            few_rss = warm(few, few_keys)
            many_rss = warm(many, many_keys)
            at_few, at_many = measure_cases(
                [(few.url, visits(few_keys)), (many.url, visits(many_keys))]
            )
    per_tenant_kb = (many_rss - few_rss) * 1024 / (MANY - FEW)
    return [
        figure("portal_rss_mb_1000_tenants", thousand_rss, "MiB", baseline=empty_rss),
        figure("plan_picker_rps_10000_tenants", at_many.rate, "requests/s", baseline=at_few.rate),
        figure("portal_rss_mb_10000_tenants", many_rss, "MiB", baseline=few_rss),
        figure("portal_rss_kb_per_tenant", per_tenant_kb, "KiB", baseline=catalog_bytes / 1024),
    ]


def main() -> None:
    started = time.monotonic()
    for row in run():
        print(f"{row['name']:<30} {row['value']:>10} {row['unit']:<12} ratio {row['ratio']}")
    print(f"(took {time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
