"""Drive the web UI in a real browser: start ``synesthesia serve`` in a subprocess, open it in
Debian's chromium through Playwright, and work each tab as a user would.

Used by the browser tests and by ``benchmarks/serve_screenshots.py``. Playwright is pointed
at the system's chromium (``executable_path``); it never downloads a browser.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TAB_TITLES = {"t2i": "text → image", "i2t": "image → text", "a2i": "sound → image", "t2v": "text → video",
              "i2a": "image → sound", "cycle": "cycle", "joint": "joint samples"}


def chromium_path() -> str | None:
    """The system chromium, or None when it is not installed."""
    for candidate in (os.environ.get("SYNESTHESIA_CHROMIUM"), CHROMIUM, shutil.which("chromium")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A running ``synesthesia serve``: its base URL and its process."""

    url: str
    process: subprocess.Popen

    def rss_mb(self) -> float:
        """The server's resident memory in MB (Linux)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS line in /proc/PID/status")


@contextlib.contextmanager
def running_server(runs: Sequence[str | Path], port: int | None = None, extra: Sequence[str] = (),
                   log: Path | None = None, startup_s: float = 180.0, env: dict | None = None) -> Iterator[Server]:
    """``synesthesia serve RUNS`` in a subprocess on a free loopback port; yields it once
    ``/v1/health`` answers, and stops it afterwards."""
    port = port or free_port()
    src = Path(__file__).resolve().parents[2] / "src"
    env = {**os.environ, **(env or {}),
           "PYTHONPATH": os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")])}
    out = open(log, "wb") if log else subprocess.DEVNULL
    cmd = [sys.executable, "-m", "synesthesia.cli", "serve", *map(str, runs), "--port", str(port),
           "--log-level", "warning", *extra]
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited with {proc.returncode}" + (f"; see {log}" if log else ""))
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(url + "/v1/health", timeout=2) as r:
                    if r.status == 200:
                        break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not answer within {startup_s:.0f} s")
            time.sleep(0.25)
        yield Server(url, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if log:
            out.close()


@contextlib.contextmanager
def browser_page(width: int = 1100, height: int = 900):
    """A chromium page that may only reach the loopback (anything else is aborted and recorded
    in ``page.external_requests``)."""
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    if path is None:
        raise RuntimeError("chromium is not installed (apt-get install chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.external_requests = []

            def route(r):
                url = r.request.url
                if url.startswith(("http://127.0.0.1", "data:", "blob:")):
                    return r.continue_()
                page.external_requests.append(url)
                return r.abort()

            page.route("**/*", route)
            yield page
        finally:
            browser.close()


def open_tab(page, tab: str) -> None:
    page.get_by_role("tab", name=TAB_TITLES[tab]).click()
    page.wait_for_selector(f"#tab-{tab}", state="visible")


def wait_images(page, selector: str, count: int, timeout_ms: int = 60_000) -> None:
    """Wait until ``count`` images under ``selector`` have loaded."""
    page.wait_for_function(
        """([sel, n]) => { const imgs = [...document.querySelectorAll(sel + ' img')];
                           return imgs.length >= n && imgs.every(i => i.complete && i.naturalWidth > 0); }""",
        arg=[selector, count], timeout=timeout_ms)


def set_seed(page, prefix: str, seed: int | None) -> None:
    if seed is not None:
        page.fill(f"#{prefix}-seed textarea, #{prefix}-seed input", str(seed))


def text_to_image(page, caption: str, n: int = 4, seed: int | None = 0) -> None:
    open_tab(page, "t2i")
    page.fill("#t2i-text textarea", caption)
    set_seed(page, "t2i", seed)
    page.click("#t2i-go")
    wait_images(page, "#t2i-out", n)


def upload(page, selector: str, path: str | Path) -> None:
    page.set_input_files(f"{selector} input[type=file]", str(path))


def image_to_text(page, image: str | Path, seed: int | None = 0) -> list[str]:
    open_tab(page, "i2t")
    upload(page, "#i2t-in", image)
    page.wait_for_selector("#i2t-in img", timeout=30_000)
    set_seed(page, "i2t", seed)
    page.click("#i2t-go")
    page.wait_for_function("document.querySelector('#i2t-out textarea').value.trim().length > 0", timeout=60_000)
    return page.input_value("#i2t-out textarea").splitlines()


def sound_to_image(page, sound: str | Path, n: int = 4, seed: int | None = 0) -> None:
    open_tab(page, "a2i")
    upload(page, "#a2i-in", sound)
    page.wait_for_selector("#a2i-in audio, #a2i-in .waveform-container, #a2i-in wave", timeout=30_000,
                           state="attached")
    set_seed(page, "a2i", seed)
    page.click("#a2i-go")
    wait_images(page, "#a2i-out", n)


def text_to_video(page, caption: str, seed: int | None = 0) -> dict:
    """Generate a clip and play it; returns the video element's state after playing."""
    open_tab(page, "t2v")
    page.fill("#t2v-text textarea", caption)
    set_seed(page, "t2v", seed)
    page.click("#t2v-go")
    page.wait_for_selector("#t2v-out video", timeout=60_000)
    page.wait_for_function("(() => { const v = document.querySelector('#t2v-out video');"
                           " return v && v.readyState >= 2; })()", timeout=30_000)
    page.evaluate("document.querySelector('#t2v-out video').play()")
    page.wait_for_function("document.querySelector('#t2v-out video').currentTime > 0", timeout=15_000)
    return page.evaluate("(() => { const v = document.querySelector('#t2v-out video');"
                         " return {currentTime: v.currentTime, duration: v.duration, paused: v.paused,"
                         " width: v.videoWidth}; })()")


def image_to_sound(page, image: str | Path, seed: int | None = 0) -> None:
    open_tab(page, "i2a")
    upload(page, "#i2a-in", image)
    page.wait_for_selector("#i2a-in img", timeout=30_000)
    set_seed(page, "i2a", seed)
    page.click("#i2a-go")
    page.wait_for_selector("#i2a-out audio, #i2a-out wave, #i2a-out .waveform-container", timeout=60_000,
                           state="attached")


def cycle(page, caption: str, rounds: int = 3) -> None:
    open_tab(page, "cycle")
    page.fill("#cycle-text textarea", caption)
    page.click("#cycle-go")
    wait_images(page, "#cycle-out", 1)


def joint(page, n: int = 4) -> None:
    open_tab(page, "joint")
    page.click("#joint-go")
    wait_images(page, "#joint-out", n)
