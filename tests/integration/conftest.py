"""Fixtures the callback tests share: a tenant whose callback URL is a local receiver."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.callbacks_support import Receiver
from tests.servers import ServerThread, free_port


@pytest.fixture
def receiver_port() -> int:
    return free_port()


@pytest.fixture
def tenant(create_tenant, receiver_port: int) -> dict[str, Any]:
    return create_tenant(callback_url=f"http://127.0.0.1:{receiver_port}/billing/hook")


@pytest.fixture
def receiver(tenant: dict[str, Any], receiver_port: int) -> Iterator[Receiver]:
    """The tenant's endpoint, verifying every callback's signature."""
    app = Receiver(tenant["callback_secret"])
    # uvicorn closes idle connections after 5 s, just when the worker's httpx pool gives up
    # reusing them, so a request can meet a closing connection; nginx keeps them 75 s.
    with ServerThread(app, port=receiver_port, timeout_keep_alive=75):
        yield app
