"""The report page in a real headless Chromium (Debian's `chromium`), driven over the DevTools protocol.

It must load offline without console errors or network requests, and the numbers it shows must equal TFMA's
evaluation output. A full-page screenshot is saved in the test's tmp dir and copied to .work/screenshots/.
"""
from __future__ import annotations

import base64
import os
import shutil

import pytest

from tests.conftest import REPO_ROOT, run_cli
from tests.helpers.browser import open_browser
from tests.helpers.tfma_metrics import tfma_overall_and_slices

SCREENSHOT_COPY = os.path.join(REPO_ROOT, ".work", "screenshots", "report.png")
PAGE_WIDTH = 1280

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    with open_browser(str(tmp_path_factory.mktemp("chromium-profile"))) as devtools:
        yield devtools


@pytest.fixture(scope="module")
def loaded_report(e2e_run, browser, tmp_path_factory):
    """The report of the e2e run, opened in Chromium; returns the page's path."""
    path = str(tmp_path_factory.mktemp("report") / "report.html")
    run_cli("report", "--metadata", e2e_run.paths.metadata_path, "--run", e2e_run.run_id, "--output", path)
    for domain in ("Page", "Runtime", "Log", "Network"):
        browser.call(f"{domain}.enable")
    browser.call("Emulation.setDeviceMetricsOverride", width=PAGE_WIDTH, height=900, deviceScaleFactor=1,
                 mobile=False)
    browser.call("Page.navigate", url=f"file://{path}")
    browser.wait_for("Page.loadEventFired")
    return path


def test_page_loads_offline_without_console_errors(browser, loaded_report):
    errors = [e for e in browser.events if e.get("method") in ("Runtime.exceptionThrown",)
              or (e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] in ("error", "assert"))
              or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")]
    assert errors == []
    requested = {e["params"]["request"]["url"] for e in browser.events
                 if e.get("method") == "Network.requestWillBeSent"}
    assert requested == {f"file://{loaded_report}"}  # nothing but the page itself: no CDN, no fonts, no images
    assert browser.evaluate("document.querySelectorAll('svg.chart').length") == 3


def test_numbers_shown_equal_tfma_output(e2e_run, browser, loaded_report):
    cells = browser.evaluate(
        "[...document.querySelectorAll('td[data-metric]')].map(td => [td.dataset.slice, td.dataset.model, "
        "td.dataset.metric, td.textContent])")
    shown = {(s, model, metric): text for s, model, metric, text in cells}
    overall, slices = tfma_overall_and_slices(e2e_run.record())
    checked = 0
    for slice_name, metrics in slices.items():
        for metric in ("auc", "auc_precision_recall", "binary_accuracy", "calibration"):
            assert shown[(slice_name, "candidate", metric)] == f"{metrics[metric]:.4f}", (slice_name, metric)
            checked += 1
        assert shown[(slice_name, "candidate", "example_count")] == f"{metrics['example_count']:.0f}"
    for metric in ("ndcg@10", "recall@10", "auc"):
        assert shown[("overall", "candidate", metric)] == f"{overall['candidate'][metric]:.4f}"
        # the fixture's run is a first one: nothing served, so there is no baseline to show
        assert "baseline" not in overall and ("overall", "baseline", metric) not in shown
    assert checked >= 4 * 20  # overall, every genre and bucket slice
    decision = browser.evaluate("document.getElementById('decision').textContent")
    assert decision == "BLESSED"


def test_screenshot_of_the_whole_page(browser, loaded_report, tmp_path):
    height = browser.evaluate("document.documentElement.scrollHeight")
    browser.call("Emulation.setDeviceMetricsOverride", width=PAGE_WIDTH, height=height, deviceScaleFactor=1,
                 mobile=False)
    png = base64.b64decode(browser.call("Page.captureScreenshot", format="png")["data"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 50_000  # a blank page compresses to a few KB
    path = tmp_path / "report.png"
    path.write_bytes(png)
    os.makedirs(os.path.dirname(SCREENSHOT_COPY), exist_ok=True)
    shutil.copyfile(path, SCREENSHOT_COPY)
