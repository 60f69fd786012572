"""The monitoring role's exporters check (one command instead of three module runs).

postgresql_monitoring's handler runs roles/postgresql_monitoring/files/coachdb-exporters-check.py
with the host's python3, the text passed as ``python3 -c`` (as here), instead of
``systemd_service`` (the textfile job's first run) and two ``uri`` tasks with retries (pg_up 1,
node_exporter's textfile metric). These prove it does what they did, against real HTTP
servers and a stand-in ``systemctl`` on PATH: the job first (its failure fails the check and
nothing is scraped), each URL retried until its line appears, and a failure that names the
URL and what it served. Molecule (molecule/default) runs it against the real exporters.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

SCRIPT = (
    Path(__file__).resolve().parents[2]
    / "roles"
    / "postgresql_monitoring"
    / "files"
    / "coachdb-exporters-check.py"
)


class Pages:
    """A local HTTP server answering GET /<name> with the file <dir>/<name> (404 while it
    does not exist), counting the requests."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests = 0
        pages = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                pages.requests += 1
                page = pages.root / self.path.lstrip("/")
                if not page.is_file():
                    self.send_error(404)
                    return
                body = page.read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{name}"


@pytest.fixture
def pages(tmp_path: Path) -> Iterator[Pages]:
    root = tmp_path / "pages"
    root.mkdir()
    served = Pages(root)
    yield served
    served.server.shutdown()
    served.server.server_close()


def _systemctl(tmp_path: Path, body: str) -> dict[str, str]:
    """A stand-in ``systemctl`` first on PATH (it logs its arguments, then runs ``body``)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "systemctl"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/systemctl.log\n{body}\n')
    fake.chmod(0o755)
    return dict(os.environ, PATH=f"{bindir}:{os.environ['PATH']}")


def _check(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The script as the handler runs it: its text through ``python3 -c``."""
    return subprocess.run(
        [sys.executable, "-c", SCRIPT.read_text(encoding="utf-8"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


def test_job_first_then_each_exporters_line(tmp_path: Path, pages: Pages) -> None:
    """The textfile page exists only once the job ran: scraped after it, both lines served."""
    (pages.root / "exporter").write_text("# HELP pg_up up\npg_up 1\n")
    env = _systemctl(
        tmp_path, f"printf 'coachdb_cert_not_after{{path=\"x\"}} 1\\n' > {pages.root}/node"
    )
    result = _check(
        "--refresh", "coachdb-textfile-metrics.service",
        "--expect", pages.url("exporter"), "^pg_up 1$",
        "--expect", pages.url("node"), "^coachdb_cert_not_after[{ ]",
        "--timeout", "2",
        env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "refreshed",
        f"served {pages.url('exporter')} ^pg_up 1$",
        f"served {pages.url('node')} ^coachdb_cert_not_after[{{ ]",
    ]
    log = (tmp_path / "systemctl.log").read_text()
    assert log == "start coachdb-textfile-metrics.service\n"
    # the node page was there at the first try: no retry (one request per URL)
    assert pages.requests == 2


def test_waits_for_a_line_that_appears_later(pages: Pages) -> None:
    """An exporter that just started answers pg_up 0 (or nothing) for a moment: retried."""
    page = pages.root / "exporter"
    page.write_text("pg_up 0\n")
    threading.Timer(1.5, page.write_text, args=("pg_up 1\n",)).start()
    start = time.monotonic()
    result = _check("--expect", pages.url("exporter"), "^pg_up 1$", "--timeout", "10")
    assert result.returncode == 0, result.stderr
    assert 1.5 <= time.monotonic() - start < 10
    assert pages.requests >= 2


def test_a_line_never_served_fails_naming_the_url_and_the_answer(pages: Pages) -> None:
    (pages.root / "exporter").write_text("# exporter\npg_up 0\n")
    start = time.monotonic()
    result = _check(
        "--expect", pages.url("exporter"), "^pg_up 1$", "--timeout", "2", "--interval", "0.5"
    )  # fmt: skip
    assert result.returncode == 1
    assert time.monotonic() - start < 10
    assert pages.url("exporter") in result.stderr and "pg_up 0" in result.stderr, result.stderr
    assert pages.requests >= 3  # retried until the timeout
    assert "served" not in result.stdout


def test_an_exporter_not_listening_fails_with_the_error(tmp_path: Path) -> None:
    result = _check("--expect", "http://127.0.0.1:9/metrics", "^pg_up 1$", "--timeout", "1")
    assert result.returncode == 1
    assert "http://127.0.0.1:9/metrics" in result.stderr and "refused" in result.stderr, (
        result.stderr
    )


def test_a_failed_job_fails_the_check_before_any_scrape(tmp_path: Path, pages: Pages) -> None:
    (pages.root / "exporter").write_text("pg_up 1\n")
    failing = "echo 'Job for coachdb-textfile-metrics.service failed.' >&2; exit 1"
    env = _systemctl(tmp_path, failing)
    result = _check(
        "--refresh", "coachdb-textfile-metrics.service",
        "--expect", pages.url("exporter"), "^pg_up 1$",
        env=env,
    )  # fmt: skip
    assert result.returncode == 1
    assert "Job for coachdb-textfile-metrics.service failed." in result.stderr, result.stderr
    assert result.stdout == ""
    assert pages.requests == 0
