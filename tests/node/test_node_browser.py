"""Pages in headless Chromium (Debian's ``chromium``): model, federation, licence and audit pages show the states,
round count and hashes; screenshots go to ``test-artifacts/screenshots/``."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-extensions",
    "--hide-scrollbars",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]


def ensure_chromium() -> str:
    """The Chromium binary; installs Debian's ``chromium`` with apt-get when missing and we are root."""
    found = shutil.which("chromium") or (os.path.exists("/usr/bin/chromium") and "/usr/bin/chromium")
    if found:
        return str(found)
    if os.geteuid() != 0:
        pytest.skip("chromium is missing and installing it needs root (apt-get install chromium)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=False, env=env, capture_output=True, timeout=600)
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "chromium"], check=True, env=env, capture_output=True, timeout=1200
    )
    return "/usr/bin/chromium"


def capture(url: str, name: str, height: int = 2000) -> str:
    """Load ``url`` headless; save a screenshot as ``<name>.png`` and return the rendered DOM."""
    binary = ensure_chromium()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="provenet-chromium-") as profile:
        base = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size=1280,{height}"]
        subprocess.run(
            [*base, f"--screenshot={SCREENSHOTS / (name + '.png')}", url], check=True, capture_output=True, timeout=120
        )
        dom = subprocess.run([*base, "--dump-dom", url], check=True, capture_output=True, timeout=120, text=True)
    assert (SCREENSHOTS / f"{name}.png").stat().st_size > 10_000
    return dom.stdout


@pytest.fixture(scope="module")
def site(history, live_node):  # type: ignore[no-untyped-def]
    _, scenario, _ = history
    return live_node.url, scenario


def test_model_page(site) -> None:  # type: ignore[no-untyped-def]
    url, scenario = site
    dom = capture(f"{url}/models/{scenario.model}", "model")
    assert scenario.model in dom
    assert scenario.coordinator in dom
    for status, label in (
        ("valid", "Valid"),
        ("expired", "Expired"),
        ("suspended", "Suspended"),
        ("revoked", "Revoked"),
        ("parent-invalid", "Parent invalid"),
    ):
        assert f'data-status="{status}"' in dom and f">{label}</span>" in dom
    assert "<svg" in dom and "Lineage graph" in dom
    assert scenario.commitment in dom and "Revealed" in dom


def test_federation_page(site) -> None:  # type: ignore[no-untyped-def]
    url, scenario = site
    dom = capture(f"{url}/federations/{scenario.federation_id}", "federation", height=1900)
    assert '<div class="n" id="round-count">3</div>' in dom
    assert dom.count('data-round="') == 3
    assert "3 of 3 rounds verified" in dom
    assert 'aria-label="accuracy per round"' in dom and 'aria-label="loss per round"' in dom
    for partner in scenario.partners:
        assert partner in dom
    assert scenario.initial_global_hash in dom and scenario.global_hashes[-1] in dom


def test_audit_page(site) -> None:  # type: ignore[no-untyped-def]
    url, scenario = site
    dom = capture(f"{url}/models/{scenario.model}/audit", "audit", height=2400)
    assert 'class="verdict pass"' in dom
    assert "FAILED" not in dom
    for round_number in (1, 2, 3):
        assert f'id="round-{round_number}"' in dom
    assert "sha256sum model.safetensors" in dom and "cast logs --address" in dom
    assert scenario.model in dom


def test_licence_page_and_search(site) -> None:  # type: ignore[no-untyped-def]
    url, scenario = site
    dom = capture(f"{url}/licenses/{scenario.licenses['parent-invalid']}", "licence", height=1200)
    assert 'id="licence-status">Parent invalid' in dom
    assert "Licence chain" in dom
    search = capture(f"{url}/search?q={scenario.global_hashes[0]}", "search", height=900)
    assert "Federation 1, round 1" in search
