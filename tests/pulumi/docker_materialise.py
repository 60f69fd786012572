"""Materialise what the Pulumi program declared on the real Docker engine.

Why not run pulumi-docker itself: the Pulumi CLI and its provider plugins cannot
be installed here. Instead the test takes the exact inputs the program handed
to the (mocked) provider - image, entrypoint, command, envs, uploads with their
modes, ports, volume, network, healthcheck, restart policy, memory - and asks
the Docker engine for the same container through the Docker SDK, the way the
provider would (uploads as a tar archive extracted at ``/`` before start).

The stand-in image (tests/fixtures/postgres-standin), built once per major
(14 and 17) from the npm binaries, replaces the official ``postgres:<major>``
image, which no registry here can serve.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest
from docker.models.containers import Container
from pulumi_mocks import ProgramRun

REPO = Path(__file__).resolve().parents[2]
STANDIN_DIR = REPO / "tests" / "fixtures" / "postgres-standin"
STANDIN_REPO = "coachdb-test/postgres-standin"
BASE_IMAGE = "debian:bookworm"


def pg_dir(major: int) -> Path:
    """Where scripts/fetch-pg.sh MAJOR unpacked the npm build."""
    return REPO / ".cache" / f"pg{major}"


def standin_tag(major: int) -> str:
    """Cache key: the fixture's files and the PostgreSQL package version of ``major``."""
    digest = hashlib.sha256()
    for name in ("Dockerfile", "docker-entrypoint.sh"):
        digest.update((STANDIN_DIR / name).read_bytes())
    digest.update((pg_dir(major) / ".version").read_bytes())
    return f"{STANDIN_REPO}:pg{major}-{digest.hexdigest()[:16]}"


def ensure_standin_image(client: docker.DockerClient, major: int = 14) -> str:
    """Build the stand-in of ``major`` once per machine (cached by tag); return its reference."""
    tag = standin_tag(major)
    try:
        client.images.get(tag)
        return tag
    except docker.errors.ImageNotFound:
        pass
    with tempfile.TemporaryDirectory(prefix="coachdb-standin-") as ctx:
        context = Path(ctx)
        for name in ("Dockerfile", "docker-entrypoint.sh"):
            shutil.copy2(STANDIN_DIR / name, context / name)
        for part in ("bin", "lib", "share"):
            shutil.copytree(pg_dir(major) / "native" / part, context / "pg" / part, symlinks=True)
        client.images.build(
            path=str(context),
            tag=tag,
            rm=True,
            forcerm=True,
            pull=False,
            buildargs={"PG_MAJOR": str(major)},
        )
    # Older builds of this major's fixture are dead weight: drop their tags.
    for image in client.images.list(name=STANDIN_REPO):
        for old in image.tags:
            if old != tag and old.startswith(f"{STANDIN_REPO}:pg{major}-"):
                client.images.remove(old, noprune=False)
    return tag


def standin_or_skip(major: int = 14) -> tuple[docker.DockerClient, str]:
    """A Docker client and the stand-in image of ``major``, or a skip naming what is missing.

    `make test` provides all three (engine, PG 14/17 binaries, base image); a bare
    `pytest` on a machine without them is told which script sets each up.
    """
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        pytest.skip(f"Docker engine not reachable ({exc}); run scripts/ensure-docker.sh")
    if not (pg_dir(major) / "native" / "bin" / "postgres").exists():
        pytest.skip(
            f"PostgreSQL {major} binaries missing: run scripts/fetch-pg.sh {major} "
            "(make test-prereqs)"
        )
    try:
        client.images.get(BASE_IMAGE)
    except docker.errors.ImageNotFound:
        pytest.skip(f"{BASE_IMAGE} missing: run scripts/build-base-images.sh bookworm")
    return client, ensure_standin_image(client, major)


def _nanoseconds(duration: str) -> int:
    match = re.fullmatch(r"(\d+)(ms|s|m|h)", duration)
    assert match, f"unsupported duration {duration!r}"
    scale = {"ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}[match[2]]
    return int(match[1]) * scale


def upload_archive(uploads: list[dict[str, Any]]) -> bytes:
    """One tar of every upload, root-owned with the declared mode, paths from ``/``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for upload in uploads:
            data = upload["content"].encode()
            info = tarfile.TarInfo(upload["file"].lstrip("/"))
            info.size = len(data)
            if upload.get("permissions"):
                info.mode = int(upload["permissions"], 8)
            else:
                info.mode = 0o744 if upload.get("executable") else 0o644
            info.uid = info.gid = 0
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


CONTAINER = "docker:index/container:Container"
VOLUME = "docker:index/volume:Volume"


def declared(run: ProgramRun, typ: str, resource: str | None = None) -> dict[str, Any]:
    """The inputs of the one resource of ``typ`` (named ``resource`` when there are several)."""
    if resource is None:
        return run.one(typ).inputs
    found = [r for r in run.of_type(typ) if r.name == resource]
    assert len(found) == 1, f"expected one {typ} named {resource}, found {len(found)}"
    return found[0].inputs


def ensure_network_and_volume(client: docker.DockerClient, run: ProgramRun) -> None:
    """The declared network and every declared volume (data, and sockets on blue/green)."""
    network = declared(run, "docker:index/network:Network")
    if not client.networks.list(names=[network["name"]]):
        client.networks.create(
            network["name"],
            driver=network.get("driver", "bridge"),
            labels={x["label"]: x["value"] for x in network.get("labels", [])},
        )
    for volume in (r.inputs for r in run.of_type(VOLUME)):
        try:
            client.volumes.get(volume["name"])
        except docker.errors.NotFound:
            client.volumes.create(
                volume["name"], labels={x["label"]: x["value"] for x in volume.get("labels", [])}
            )


def create_container(
    client: docker.DockerClient, run: ProgramRun, image: str, resource: str | None = None
) -> Container:
    """The declared container (``resource``: its Pulumi name), uploads in place, started."""
    c = declared(run, CONTAINER, resource)
    hc = c["healthcheck"]
    container = client.containers.create(
        image=image,
        name=c["name"],
        hostname=c["hostname"],
        entrypoint=c["entrypoints"],
        command=c["command"],
        environment=c["envs"],
        ports={f"{int(p['internal'])}/tcp": (p["ip"], int(p["external"])) for p in c["ports"]},
        volumes={m["volumeName"]: {"bind": m["containerPath"], "mode": "rw"} for m in c["volumes"]},
        network=c["networksAdvanced"][0]["name"],
        healthcheck={
            "test": hc["tests"],
            "interval": _nanoseconds(hc["interval"]),
            "timeout": _nanoseconds(hc["timeout"]),
            "retries": int(hc["retries"]),
            "start_period": _nanoseconds(hc["startPeriod"]),
        },
        restart_policy={"Name": c["restart"]},
        mem_limit=f"{int(c['memory'])}m",
        memswap_limit=f"{int(c['memorySwap'])}m",
        shm_size=f"{int(c['shmSize'])}m",
        stop_signal=c["stopSignal"],
        labels={x["label"]: x["value"] for x in c["labels"]},
    )
    container.put_archive("/", upload_archive(c["uploads"]))
    container.start()
    return container


def wait_healthy(container: Container, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        container.reload()
        state = container.attrs["State"]
        if state.get("Health", {}).get("Status") == "healthy":
            return
        if state["Status"] in ("exited", "dead") or state.get("Restarting"):
            break
        time.sleep(1)
    logs = container.logs(tail=80).decode(errors="replace")
    raise AssertionError(f"container {container.name} did not turn healthy:\n{logs}")


def remove_everything(client: docker.DockerClient, run: ProgramRun) -> None:
    """Containers, volumes and network by their declared names; silent when absent."""
    for c in run.of_type(CONTAINER):
        with contextlib.suppress(docker.errors.NotFound):
            client.containers.get(c.inputs["name"]).remove(force=True)
    for v in run.of_type(VOLUME):
        with contextlib.suppress(docker.errors.NotFound):
            client.volumes.get(v.inputs["name"]).remove(force=True)
    with contextlib.suppress(docker.errors.NotFound):
        client.networks.get(declared(run, "docker:index/network:Network")["name"]).remove()


def psql(container: Container, sql: str, db: str) -> str:
    """psql as the postgres OS user inside ``container`` (peer over its socket)."""
    code, out = container.exec_run(
        ["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql], user="postgres"
    )
    text = out.decode()
    assert code == 0, text
    return text.strip()


def _client_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "PG", "DATABASE_"))}


def sqitch_deploy(migrator_url: str) -> subprocess.CompletedProcess[str]:
    """docs/migrations.md: the one command that applies the plan after `pulumi up`."""
    return subprocess.run(
        ["sqitch", "deploy"],
        cwd=REPO / "db",
        env={
            **_client_env(),
            "SQITCH_TARGET": f"db:{migrator_url}",
            "SQITCH_USER_CONFIG": os.devnull,
        },
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def coachdb_check(app_env: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """`coachdb check --json --strict` with the ``app_env`` output as the app's environment."""
    env = _client_env()
    for line in app_env.splitlines():
        if line and not line.startswith("#"):
            name, value = line.split("=", 1)
            env[name] = value
    args = ["check", "--json", "--strict", "--connects", "3", "--iterations", "10"]
    args += ["--pool-threads", "4", "--pool-ops", "5", "--max-connect-ms", "2000"]
    result = subprocess.run(
        [str(Path(sys.executable).with_name("coachdb")), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return result, json.loads(result.stdout)


EXPORTER_STANDIN_DIR = REPO / "tests" / "fixtures" / "postgres-exporter-standin"
EXPORTER_STANDIN_REPO = "coachdb-test/postgres-exporter-standin"


def ensure_exporter_standin(client: docker.DockerClient) -> str:
    """Build the exporter stand-in (Debian 13's 0.17.1) once per Dockerfile; its reference."""
    digest = hashlib.sha256((EXPORTER_STANDIN_DIR / "Dockerfile").read_bytes()).hexdigest()[:16]
    tag = f"{EXPORTER_STANDIN_REPO}:{digest}"
    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        client.images.build(
            path=str(EXPORTER_STANDIN_DIR), tag=tag, rm=True, forcerm=True, pull=False
        )
    return tag


def create_sidecar(
    client: docker.DockerClient, run: ProgramRun, image: str, resource: str
) -> Container:
    """A declared container without volumes or healthcheck (the exporter), uploads in place."""
    c = declared(run, CONTAINER, resource)
    container = client.containers.create(
        image=image,
        name=c["name"],
        hostname=c["hostname"],
        command=c["command"],
        environment=c["envs"],
        ports={f"{int(p['internal'])}/tcp": (p["ip"], int(p["external"])) for p in c["ports"]},
        network=c["networksAdvanced"][0]["name"],
        restart_policy={"Name": c["restart"]},
        labels={x["label"]: x["value"] for x in c["labels"]},
    )
    container.put_archive("/", upload_archive(c["uploads"]))
    container.start()
    return container
