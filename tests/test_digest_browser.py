"""The HTML digest in a real headless Chromium: it renders, the matched terms are marked,
and a hostile feed title does not run (checked by the side effects it would have)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ingest.deliver import write_digest_files
from ingest.digest.build import build_digest
from tests.digestdata import load_inputs

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason="Debian's chromium is not installed (apt-get install -y chromium; .ci/run does it)",
)
CSP = re.compile(r'<meta http-equiv="Content-Security-Policy"[^>]*>\n?')
# What the hostile title in tests/data/digest/day.json does if it ever runs.
SIDE_EFFECTS = ("PWNED-SCRIPT", "PWNED-IMG", "PWNED-LINK", "PWNED-OUTLET")


def dump_dom(page: Path, profile: Path) -> str:
    """The DOM after the page loaded and its scripts and event handlers had time to run."""
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=3000",
        "--dump-dom",
        page.as_uri(),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "<html" in result.stdout, result.stderr[-2000:]
    return result.stdout


def title_of(dom: str) -> str:
    match = re.search(r"<title>(.*?)</title>", dom, re.S)
    assert match, dom[:500]
    return match.group(1)


@pytest.fixture(scope="module")
def digest_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("digests")
    [path] = write_digest_files(build_digest(load_inputs()), out, ("html",))
    return path


def test_scripts_and_onerror_do_run_in_this_mode(digest_html: Path, tmp_path: Path) -> None:
    """The control: the same page without its CSP, plus a test-only script and a broken
    image with an onerror handler. Both take effect, so a 'did not run' below means it."""
    control = tmp_path / "control.html"
    html = CSP.sub("", digest_html.read_text(encoding="utf-8"))
    probe = (
        "<script>document.title='SCRIPTS-RUN'</script>"
        "<img src=missing.png onerror=\"document.body.insertAdjacentHTML('beforeend',"
        "'<p id=onerror-ran>ran</p>')\">"
    )
    control.write_text(html.replace("</body>", probe + "</body>"), encoding="utf-8")
    dom = dump_dom(control, tmp_path / "profile")
    assert title_of(dom) == "SCRIPTS-RUN"
    assert 'id="onerror-ran"' in dom


def test_the_digest_renders_with_marks_and_the_hostile_title_inert(
    digest_html: Path, tmp_path: Path
) -> None:
    dom = dump_dom(digest_html, tmp_path / "profile")
    assert title_of(dom) == "ingest daily digest · 2026-11-24"
    assert "<mark>Ein al-Assad</mark>" in dom and "<mark>عين الاسد</mark>" in dom
    assert "also reported by (2)" in dom
    assert 'id="pwned"' not in dom
    # The payload is on the page as text, escaped, not as elements.
    assert "&lt;script&gt;document.title='PWNED-SCRIPT'&lt;/script&gt;" in dom
    assert not re.search(r"<img[^>]*onerror", dom)


def test_escaping_alone_keeps_the_payload_inert(digest_html: Path, tmp_path: Path) -> None:
    """Without the Content-Security-Policy (a mail client ignores it) nothing runs either."""
    bare = tmp_path / "no-csp.html"
    bare.write_text(CSP.sub("", digest_html.read_text(encoding="utf-8")), encoding="utf-8")
    assert "Content-Security-Policy" not in bare.read_text(encoding="utf-8")
    dom = dump_dom(bare, tmp_path / "profile")
    title = title_of(dom)
    assert not any(effect in title for effect in SIDE_EFFECTS), title
    assert 'id="pwned"' not in dom
    assert not re.search(r'<a [^>]*href="javascript:', dom)
