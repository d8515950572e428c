"""The studio in a real browser: Debian's Chromium driven by Playwright against a studio served
by uvicorn on a free loopback port, on the tiny network.

Skips only where /usr/bin/chromium is absent; .ci/run installs it. With
NST_STUDIO_SCREENSHOT=PATH the mid-run screenshot is written there (how docs/studio.png is made).
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("playwright")
import uvicorn  # noqa: E402
from PIL import Image  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from bench.serve import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from nst.demo import demo_content, demo_style  # noqa: E402
from nst.image import resize_longest, save_image  # noqa: E402
from nst.options.config import Config  # noqa: E402
from nst.serve.app import Studio, create_app  # noqa: E402
from tests.helpers import SHALLOW, tiny_weights_file  # noqa: E402

SCREENSHOT = "NST_STUDIO_SCREENSHOT"
WAIT_MS = 60_000

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"needs Debian's Chromium at {CHROMIUM}")


@contextmanager
def served(data: Path, weights: Path):
    """The studio on 127.0.0.1 at a free port, in a thread; stopped (and its jobs) on exit."""
    app = create_app(Studio(data, defaults={"weights": str(weights), **SHALLOW}))
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the studio did not start"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{listening.getsockname()[1]}/"
    finally:
        server.should_exit = True
        thread.join(60)
        listening.close()
    assert not thread.is_alive()


def demo_inputs(folder: Path) -> tuple[Path, Path]:
    """nst demo's photo and painting at 64 px (the painting drawn at 128 px first, so that its
    strokes are strokes), as files to upload."""
    photo, painting = folder / "astronaut.png", folder / "painting.png"
    save_image(resize_longest(demo_content(), 64), photo)
    save_image(resize_longest(demo_style(128, 128), 64), painting)
    return photo, painting


def counter(page) -> tuple[int, int]:
    """The step counter, 'STEP / TOTAL'."""
    match = re.fullmatch(r"(\d+) / (\d+)", page.inner_text("#step"))
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def test_make_a_picture_watch_it_stop_download_and_find_it_in_the_gallery(tmp_path):
    photo, painting = demo_inputs(tmp_path)
    screenshot = Path(os.environ.get(SCREENSHOT) or tmp_path / "studio.png")
    with served(tmp_path / "data", tiny_weights_file(tmp_path)) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800}, accept_downloads=True)
            page.set_default_timeout(WAIT_MS)
            page.goto(url)
            # The photo-painting slider starts at its middle: the CLI's default beta.
            beta = f"β {Config().style_weight:g}"
            page.wait_for_function(f"document.querySelector('#style-weight-value').textContent === '{beta}'")
            page.set_input_files("#content-file", str(photo))
            page.set_input_files("#style-file", str(painting))
            page.fill("#size", "64")
            page.fill("#iterations", "100000")  # runs until stopped
            page.wait_for_function("!document.querySelector('#start').disabled")
            page.click("#start")

            # The first preview, then at least two changes of it, while the step counter rises.
            frames: list[str] = []
            steps: list[int] = []
            deadline = time.monotonic() + WAIT_MS / 1000
            while (len(frames) < 3 or len(set(steps)) < 3) and time.monotonic() < deadline:
                source = page.get_attribute("#preview", "src")
                if source and source not in frames:
                    frames.append(source)
                steps.append(counter(page)[0])
                page.wait_for_timeout(100)
            assert len(frames) >= 3, frames
            assert len(set(steps)) >= 3 and steps == sorted(steps), steps
            assert page.inner_text("#state-badge") == "Painting"
            page.screenshot(path=str(screenshot))

            page.click("#stop")
            page.wait_for_function("document.querySelector('#state-badge').textContent === 'Stopped'")
            stopped_at, total = counter(page)
            assert 0 < stopped_at < total
            page.wait_for_selector("#download-png:not(.disabled)")
            with page.expect_download() as download:
                page.click("#download-png")
            downloaded = tmp_path / "download.png"
            download.value.save_as(downloaded)
            with Image.open(downloaded) as result:
                assert (result.format, result.size) == ("PNG", (64, 64))
            job_id = page.evaluate("location.hash.slice(1)")

            page.goto(url)  # a fresh page, without the job in its address
            card = page.locator(f".card[data-job='{job_id}']")
            card.wait_for()
            assert card.inner_text().startswith("Stopped")
            card.click()
            page.wait_for_function("document.querySelector('#preview').complete")
            assert page.evaluate("document.querySelector('#preview').naturalWidth") == 64
        finally:
            browser.close()
    with Image.open(screenshot) as shot:
        assert shot.size == (1280, 800)
