"""Real-container proof of coachdb:exporter: the declared exporter scrapes the declared server.

The program runs under mocks with ``coachdb:exporter true``; docker_materialise creates
the PostgreSQL container (stand-in of postgres:17) and the exporter container (stand-in
built from Debian 13's prometheus-postgres-exporter 0.17.1, the release the pinned
upstream image carries) from the declared inputs, on the declared network. A scrape of the
published port must show ``pg_up 1``: the exporter dialled the server's container name,
verified its certificate against the stack's CA (verify-full) and logged in as the
pg_monitor role with the generated password from its file. A second exporter given
another CA must fail (``pg_up 0``): the verification is real.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import docker
import pytest
from coachdb_infra.common import initdb
from coachdb_infra.docker import exporter
from docker_materialise import (
    CONTAINER,
    create_container,
    create_sidecar,
    ensure_exporter_standin,
    ensure_network_and_volume,
    psql,
    remove_everything,
    standin_or_skip,
    upload_archive,
    wait_healthy,
)
from pulumi_mocks import ProgramRun, run_program

from coachdb import versions
from tests.support.certs import self_signed_pem
from tests.support.pgcluster import free_port

pytestmark = [pytest.mark.docker, pytest.mark.slow]

MAJOR = 17
NETWORK = "docker:index/network:Network"
assert initdb.MONITOR_ROLE == "prometheus"  # the name the SQL below reads


@dataclass
class Stack:
    client: docker.DockerClient
    run: ProgramRun
    port: int

    def container(self, resource: str):  # type: ignore[no-untyped-def]
        name = next(r for r in self.run.of_type(CONTAINER) if r.name == resource).inputs["name"]
        return self.client.containers.get(name)


def scrape(port: int, want: str, timeout: float = 90.0) -> str:
    """The exporter's metrics once ``want`` (a line regex) matches, or the last scrape."""
    deadline, text = time.monotonic() + timeout, ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
                text = r.read().decode()
        except OSError:
            text = ""
        if re.search(want, text, re.M):
            return text
        time.sleep(2)
    return text


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    client, standin = standin_or_skip(MAJOR)
    exporter_image = ensure_exporter_standin(client)
    suffix = uuid.uuid4().hex[:10]
    tag = versions.MAJORS[MAJOR].image_tag.split("-")[0]
    image = f"coachdb-test/postgres:{tag}-standin-{suffix}"
    exporter_ref = f"coachdb-test/postgres-exporter:v0.17.1-standin-{suffix}"
    port = free_port()
    run = run_program(
        {
            "postgresMajor": str(MAJOR),
            "image": image,
            "port": str(free_port()),
            "containerName": f"coachdb-test-pgx-{suffix}",
            "volumeName": f"coachdb-test-pgxdata-{suffix}",
            "networkName": f"coachdb-test-netx-{suffix}",
            "memoryMb": "512",
            "exporter": "true",
            "exporterImage": exporter_ref,
            "exporterPort": str(port),
        }
    )
    client.images.get(standin).tag(image)
    client.images.get(exporter_image).tag(exporter_ref)
    result = Stack(client, run, port)
    try:
        ensure_network_and_volume(client, run)
        wait_healthy(create_container(client, run, image, "postgres"))
        create_sidecar(client, run, exporter_ref, "exporter")
        yield result
    finally:
        with contextlib.suppress(docker.errors.NotFound):  # before the network goes
            client.containers.get(f"{run.one(NETWORK).inputs['name']}-badca").remove(force=True)
        remove_everything(client, run)
        for ref in (image, exporter_ref):
            client.images.remove(ref, noprune=True)


def test_scrape_shows_pg_up_over_verified_tls(stack: Stack) -> None:
    text = scrape(stack.port, r"^pg_up 1$")
    exp = stack.container("exporter")
    assert re.search(r"^pg_up 1$", text, re.M), exp.logs(tail=40).decode(errors="replace")
    assert re.search(r'^pg_stat_database_xact_commit\{[^}]*datname="postgres"', text, re.M)
    # the exporter's sessions: TLS, as the pg_monitor role, never a superuser
    pg = stack.container("postgres")
    sessions = psql(
        pg,
        "SELECT DISTINCT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) "
        "WHERE a.usename = 'prometheus'",
        "postgres",
    )
    assert sessions == "t", sessions
    role = psql(
        pg,
        "SELECT rolsuper, rolcanlogin, pg_has_role(oid, 'pg_monitor', 'member') "
        "FROM pg_roles WHERE rolname = 'prometheus'",
        "postgres",
    )
    assert role == "f|t|t", role
    # the password is in the exporter's file only: not in its environment
    assert not any("PASS=" in e for e in exp.attrs["Config"]["Env"])


def test_statement_statistics_in_the_scrape(stack: Stack) -> None:
    text = scrape(stack.port, r"^pg_stat_statements_calls_total\{")
    assert re.search(r"^pg_stat_statements_calls_total\{", text, re.M), text[-1500:]


def _other_ca() -> str:
    now = dt.datetime.now(dt.UTC)
    return self_signed_pem(
        "not the stack's CA", now - dt.timedelta(days=1), now + dt.timedelta(days=30), ca=True
    ).decode()


def test_exporter_with_another_ca_cannot_log_in(stack: Stack) -> None:
    """Same declaration but a foreign CA file: verify-full refuses the server, pg_up 0."""
    declared = next(r for r in stack.run.of_type(CONTAINER) if r.name == "exporter").inputs
    port = free_port()
    name = f"{stack.run.one(NETWORK).inputs['name']}-badca"
    uploads = [
        {**u, "content": _other_ca()} if u["file"] == exporter.CA_FILE else u
        for u in declared["uploads"]
    ]
    bad = stack.client.containers.create(
        image=stack.container("exporter").image.id,
        name=name,
        command=declared["command"],
        environment=declared["envs"],
        ports={f"{exporter.INTERNAL_PORT}/tcp": ("127.0.0.1", port)},
        network=declared["networksAdvanced"][0]["name"],
    )
    bad.put_archive("/", upload_archive(uploads))
    bad.start()
    # the first pg_up it reports must be 0 (waiting for a 0 would let a 1 pass by and make a
    # break that trusts any server cost the whole timeout before it fails)
    text = scrape(port, r"^pg_up [01]$")
    assert re.search(r"^pg_up 0$", text, re.M), text[-1500:]
