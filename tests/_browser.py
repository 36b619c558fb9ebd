"""Headless Chromium for the explainer page's tests: Debian's ``chromium`` driven by Selenium.

``browser()`` returns a WebDriver or calls ``pytest.skip`` with the reason (no selenium, no
chromium or chromedriver on PATH / in /usr/bin).  Chromium runs with every background service
off (no update checks, no sync, no safe-browsing or metrics requests) and a fresh profile, so the
only traffic it could make is what the page asks for, which the tests then check is none.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
    "--metrics-recording-only",
    "--window-size=1400,900",
]


def _find(*names) -> str | None:
    for name in names:
        found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
        if found:
            return found
    return None


def browser():
    """A headless Chromium WebDriver with console and network logging, or ``pytest.skip`` saying why not."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed (pip install '.[test]')")
    chromium = _find("chromium", "chromium-browser", "google-chrome")
    driver_path = _find("chromedriver")
    if chromium is None or driver_path is None:
        pytest.skip(
            f"no headless browser: chromium={chromium}, chromedriver={driver_path} "
            "(apt-get install chromium chromium-driver)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="tinygraph-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver._tinygraph_profile = profile  # removed by close()
    return driver


def close(driver) -> None:
    driver.quit()
    shutil.rmtree(getattr(driver, "_tinygraph_profile", ""), ignore_errors=True)
