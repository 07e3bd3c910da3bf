"""``billport demo`` end to end: the sample site's journey in Chromium, then a second run.

The demo runs as the real command in its own process, from an empty directory. The
screenshots it takes are the ones in docs/screenshots/.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.host import fill_card
from tests.servers import free_port

BILLPORT = str(Path(sys.executable).parent / "billport")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


class Demo:
    def __init__(self, folder: Path, port: int) -> None:
        self.folder = folder
        self.port = port
        self.process: subprocess.Popen[str] | None = None
        self.banner = ""

    def start(self) -> Demo:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BILLPORT_")}
        self.process = subprocess.Popen(
            [BILLPORT, "demo", "--port", str(self.port)],
            cwd=self.folder,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 120
        lines: list[str] = []
        assert self.process.stdout is not None
        while "State is kept in" not in "".join(lines):
            line = self.process.stdout.readline()
            if not line:
                raise AssertionError(
                    "the demo stopped: "
                    + (self.process.stderr.read() if self.process.stderr else "")
                )
            lines.append(line)
            assert time.monotonic() < deadline, "the demo did not start in time"
        self.banner = "".join(lines)
        return self

    def url(self, name: str) -> str:
        found = re.search(rf"{name}\s+(http://\S+)", self.banner)
        assert found, self.banner
        return found.group(1).rstrip("/")

    @property
    def login(self) -> tuple[str, str]:
        found = re.search(r"sign in as (\S+) / (\S+)", self.banner)
        assert found, self.banner
        return found.group(1), found.group(2)

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=60)


def three_free_ports() -> int:
    """A port whose next two are free too: the demo takes all three."""
    for _ in range(50):
        port = free_port()
        sockets = []
        try:
            for offset in range(3):
                probe = socket.socket()
                sockets.append(probe)
                probe.bind(("127.0.0.1", port + offset))
            return port
        except OSError:
            continue
        finally:
            for probe in sockets:
                probe.close()
    raise AssertionError("no three free ports in a row")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    running = Demo(tmp_path_factory.mktemp("demo"), three_free_ports()).start()
    yield running
    if running.process and running.process.poll() is None:
        running.stop()


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def settled(page: Page) -> None:
    """Wait until the widgets stop moving: each frame resizes to its content as it loads, and a
    click while the page still shifts lands where the control no longer is."""
    frames = page.locator("[data-billport] iframe")
    boxes: list[str] = []
    deadline = time.monotonic() + 20
    while len(boxes) < 4 or len(set(boxes[-4:])) > 1:
        assert time.monotonic() < deadline, "the page never settled"
        boxes.append(str([frames.nth(i).bounding_box() for i in range(frames.count())]))
        page.wait_for_timeout(250)


def panel(page: Page, name: str) -> Any:
    return page.locator(f"#{name}")


def test_the_demo_sells_the_product_in_one_minute(page: Page, demo: Demo) -> None:
    site = demo.url("Acme Notes, a sample SaaS site")
    assert site.startswith("http://localhost:")
    page.set_viewport_size({"width": 1280, "height": 900})

    # Pricing: an anonymous plan picker in Acme Notes' colours.
    page.goto(f"{site}/pricing")
    plans = page.frame_locator("[data-billport] iframe")
    expect(plans.get_by_role("heading", name="Pro")).to_be_visible()
    expect(plans.get_by_text("Most popular")).to_be_visible()
    shot(page, "pricing")
    plans.get_by_role("button", name="Choose Starter").click()

    # Signup with a 14-day trial, card 4242; Acme Notes signs the new customer in.
    page.wait_for_url(re.compile(r"/signup\?price=price_"))
    signup = page.frame_locator("[data-billport] iframe")
    email = f"newcomer-{uuid.uuid4().hex[:6]}@example.com"
    signup.get_by_label("Email").fill(email)
    fill_card(signup, "4242424242424242")
    shot(page, "signup")
    signup.get_by_role("button", name="Start trial").or_(
        signup.get_by_role("button", name="Subscribe")
    ).click()
    expect(panel(page, "events")).to_contain_text("create_subscription")
    page.wait_for_url(re.compile(r"/account$"))

    # Account: the customer portal; upgrade to Pro during the trial.
    portal = page.frame_locator("[data-billport='customer-portal'] iframe")
    expect(portal.get_by_role("heading", name="Starter")).to_be_visible()
    expect(portal.get_by_text("Trial", exact=True)).to_be_visible()
    settled(page)
    portal.get_by_role("button", name="Change plan").click()
    settled(page)
    portal.get_by_label(re.compile(r"^Pro — \$29 / month")).check()
    expect(portal.get_by_text("Due now")).to_be_visible()
    settled(page)
    portal.get_by_role("button", name="Confirm change").click()
    # A plan change is a proration invoice at Stripe: give a busy machine time.
    expect(portal.get_by_role("heading", name="Pro")).to_be_visible(timeout=60_000)
    expect(panel(page, "events")).to_contain_text("change_plan")
    expect(panel(page, "callbacks")).to_contain_text("change_plan")
    expect(panel(page, "callbacks")).to_contain_text("create_subscription")
    shot(page, "account")

    # The time machine: the trial nears its end, then ends and the card is charged.
    page.get_by_role("button", name=re.compile(r"\+12 days")).click()
    expect(panel(page, "callbacks")).to_contain_text("trial_will_end", timeout=60_000)
    page.get_by_role("button", name="+3 days").click()
    expect(panel(page, "callbacks")).to_contain_text("payment_succeeded", timeout=60_000)
    expect(panel(page, "callbacks")).to_contain_text("✓ signature")
    portal = page.frame_locator("[data-billport='customer-portal'] iframe")
    expect(portal.get_by_text("Active", exact=True)).to_be_visible()
    shot(page, "callbacks")

    # The dashboard shows the same story to the tenant's admin.
    email_admin, password = demo.login
    page.goto(demo.url("Billport dashboard") + "/")
    page.get_by_label("Email").fill(email_admin)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("rowheader", name="Acme Notes")).to_be_visible()
    shot(page, "dashboard-tenants")
    page.get_by_role("link", name=re.compile(r"Test bp_pub_")).click()
    expect(page.get_by_role("heading", name="Acme Notes")).to_be_visible()
    shot(page, "dashboard")
    page.get_by_role("link", name="Callbacks").click()
    expect(page.get_by_text("payment_succeeded").first).to_be_visible()
    shot(page, "dashboard-callbacks")


def test_ctrl_c_stops_everything_and_a_second_run_reuses_the_state(demo: Demo) -> None:
    first_login = demo.login
    site = demo.url("Acme Notes, a sample SaaS site")
    assert demo.stop() == 0
    with pytest.raises(httpx.HTTPError):
        httpx.get(site, timeout=2)
    again = Demo(demo.folder, demo.port).start()
    try:
        assert again.login == first_login
        pricing = httpx.get(f"{site}/pricing", timeout=10)
        assert pricing.status_code == 200
        key = re.search(r'data-key="(bp_pub_\w+)"', pricing.text).group(1)
        assert key in (demo.folder / ".billport" / "demo" / "demo.json").read_text()
    finally:
        assert again.stop() == 0
