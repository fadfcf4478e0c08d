"""The HTML report as a person sees it: `migrator report` (real CLI) on a journal, then the page opened in
headless Chromium (Debian's `chromium`, installed here once if missing): a screenshot that is not blank (a
tiny PNG decoder counts its colours, no Pillow) and the rendered DOM holding the tables' rows and the chart;
then the page printed to PDF as a customer prints it to sign: its pages counted from the PDF's own page tree,
and its text (Debian's `pdftotext`, from poppler-utils, installed here once if missing) holding the grouped
rejection reasons and the sign-off block, on its own page."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from migrator.journal import Journal, Rejection, SentRecord, WriteResult
from tests.e2e.helpers import PLANS, migrator

CHROMIUM = Path("/usr/bin/chromium")
PDFTOTEXT = Path("/usr/bin/pdftotext")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


def _installed(binary: Path, package: str) -> Path:
    """``binary``, installed with apt-get from Debian's ``package`` when missing (a skip where it cannot be)."""
    if binary.exists():
        return binary
    if shutil.which("apt-get") is None:
        pytest.skip(f"{binary.name} is not installed and apt-get is not available to install it")
    if os.geteuid() != 0:
        pytest.skip(f"{binary.name} is not installed and installing it with apt-get needs root")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "-q", package]
    done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:  # a fresh machine may have no package lists yet
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, timeout=600, check=False)
        done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0 and binary.exists(), f"apt-get install {package} failed: {done.stderr[-2000:]}"
    return binary


@pytest.fixture(scope="session")
def chromium() -> Path:
    return _installed(CHROMIUM, "chromium")


@pytest.fixture(scope="session")
def pdftotext() -> Path:
    return _installed(PDFTOTEXT, "poppler-utils")


def _chromium(binary: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp / "profile"
    profile.mkdir(exist_ok=True)
    return subprocess.run(
        [str(binary), *FLAGS, f"--user-data-dir={profile}", *args],
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Decode an 8-bit RGB or RGBA PNG: ``(width, height, rows of raw pixel bytes)``."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (2, 6), (
                f"unexpected PNG format: depth {depth}, colour type {colour}"
            )
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    raw, stride = zlib.decompress(idat), width * channels
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up, up_left = prev[i], prev[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - up_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else up_left
                line[i] = (line[i] + pred) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, [bytes(r) for r in rows]


PLAN_HASH = "3f9a0c1d5e7b2468"
RUN_BY = "consultant-a"


def _reason(batch: int) -> str:
    """Half the batches' rejections share one reason; the others differ only in the value refused."""
    if batch % 2 == 0:
        return "emailAddress: not an email address"
    return f"roles: value 'R{batch}' is not in table 'roles'"


def _journal(path: Path) -> None:
    """A journal of plan velpic-to-velpic as a run leaves it: batches over ~40 s, a rejection per batch (two
    reasons, one with the refused value in it), run stats naming who ran it."""
    clock = iter(1_700_000_000.0 + t * 0.5 for t in range(100_000))
    j = Journal.open(path, "velpic-to-velpic", clock=lambda: next(clock))
    run = j.begin_run(PLAN_HASH)
    for b in range(40):
        keys = [f"{b}-{i}" for i in range(25)]
        j.mark_batch_sent("users", f"b{b}", [SentRecord(f"k{k}", k) for k in keys])
        j.mark_batch_done(
            "users",
            f"b{b}",
            [WriteResult(f"k{k}", k, f"9{b:02d}{i:02d}") for i, k in enumerate(keys[:-1])],
            [Rejection(f"k{keys[-1]}", keys[-1], _reason(b), 400, {"emailAddress": ["bad"]})],
        )
    j.finish_run("done")
    j.save_run_stats(
        run,
        {
            "steps": {
                "users": {"status": "done", "read": 1000, "written": 960, "created": 960, "rejected": 40}
            },
            "transports": {
                "target": {
                    "requests": {"/bulkUserImport": 40},
                    "statuses": {"200": 38, "429": 2},
                    "retries": 2,
                    "rate_limited": 2,
                    "token_refreshes": 0,
                },
                "source": {"requests": {"/user": 5}, "statuses": {"200": 5}, "retries": 0, "rate_limited": 0},
            },
            "budgets": {"target": {"/bulkUserImport": "20/second"}},
            "run_by": RUN_BY,
            "version": "0.1.0",
        },
    )
    j.close()


def test_report_renders_tables_and_chart_in_chromium(chromium: Path, tmp_path: Path) -> None:
    _journal(tmp_path / "journal.sqlite")
    result = migrator(
        "report",
        str(PLANS / "velpic-to-velpic.toml"),
        "--journal",
        "journal.sqlite",
        "--out",
        "rep",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    page = tmp_path / "rep" / "report.html"

    shot = _chromium(chromium, tmp_path, "--screenshot=out.png", "--window-size=1200,1600", page.as_uri())
    png = tmp_path / "out.png"
    assert png.exists(), shot.stderr[-2000:]
    data = png.read_bytes()
    assert len(data) > 20_000, f"screenshot suspiciously small: {len(data)} bytes"
    width, height, rows = png_pixels(data)
    assert (width, height) == (1200, 1600)
    channels = len(rows[0]) // width
    colours = {row[x : x + 3] for row in rows[::4] for x in range(0, len(row), channels * 4)}
    assert len(colours) >= 20, f"a blank-looking screenshot: {len(colours)} distinct colours"
    blue = sum(1 for row in rows for x in range(0, len(row), channels) if row[x : x + 3] == b"\x2b\x6c\xb0")
    assert blue > 500, "the chart's bars (#2b6cb0) are not on the screenshot"

    dom = _chromium(chromium, tmp_path, "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert "<svg" in html and html.count('class="bar"') >= 10
    assert "<td>users</td><td>done</td><td>1000</td><td>960</td>" in html
    assert "<td>target</td><td>/bulkUserImport</td><td>40</td><td>20/second</td>" in html
    assert "<td>users</td><td>emailAddress: not an email address</td><td>20</td>" in html
    assert "<td>users</td><td>roles: value '…' is not in table 'roles'</td><td>20</td>" in html
    assert 'id="signoff"' in html and f"<dd>{PLAN_HASH}</dd>" in html


def pdf_pages(data: bytes) -> int:
    """The page count a PDF's page tree declares (the root ``/Pages`` node's ``/Count``)."""
    assert data[:5] == b"%PDF-", "not a PDF"
    counts = [int(n) for n in re.findall(rb"/Type\s*/Pages\b[^>]*?/Count\s+(\d+)", data)]
    counts += [int(n) for n in re.findall(rb"/Count\s+(\d+)[^>]*?/Type\s*/Pages\b", data)]
    assert counts, "no page tree in the PDF"
    return max(counts)


def test_report_prints_to_pdf_with_the_signoff_block(chromium: Path, pdftotext: Path, tmp_path: Path) -> None:
    _journal(tmp_path / "journal.sqlite")
    result = migrator(
        "report",
        str(PLANS / "velpic-to-velpic.toml"),
        "--journal",
        "journal.sqlite",
        "--out",
        "rep",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    page = tmp_path / "rep" / "report.html"
    printed = _chromium(
        chromium, tmp_path, "--print-to-pdf=report.pdf", "--no-pdf-header-footer", page.as_uri()
    )
    pdf = tmp_path / "report.pdf"
    assert pdf.exists(), printed.stderr[-2000:]
    pages = pdf_pages(pdf.read_bytes())
    assert pages >= 2, f"{pages} page(s): the sign-off block starts a page of its own"

    text = subprocess.run(
        [str(pdftotext), "-layout", str(pdf), "-"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    sheets = text.split("\f")
    assert len([s for s in sheets if s.strip()]) == pages
    assert "emailAddress: not an email address" in text
    assert re.search(r"roles: value '…' is not in table 'roles'\s+20", text), text
    signoff = [s for s in sheets if "Signed for the customer" in s]
    assert len(signoff) == 1, "the sign-off block is printed once, whole, on one page"
    sheet = signoff[0]
    assert sheet.lstrip().startswith("Sign-off"), "the sign-off block starts its page"
    for expected in (PLAN_HASH, RUN_BY, "migrator version", "Report prepared by", "not verified", "done"):
        assert expected in sheet, (expected, sheet)
