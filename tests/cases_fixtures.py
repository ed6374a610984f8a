"""Fixtures for the case-store tests: a store on SQLite (a file in the test's folder) and, where the
PostgreSQL server binaries are installed (``bash .ci/install`` installs them as root), the same on
a throwaway PostgreSQL server started for the test session.

Import into a test module: ``from cases_fixtures import store, pg_server, pg_url, make_run``.
The ``store`` fixture runs each test once per backend (``sqlite``, ``postgresql``); the
PostgreSQL run is skipped with the reason when no server can be started.
"""

from __future__ import annotations

import datetime as dt
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from leukemia_core.cases.db import open_store
from leukemia_core.cases.views import CellInput, RunInput

#: The system user the server runs as when the tests run as root (PostgreSQL refuses root).
PG_USER = "postgres"


def single(name: str) -> str:
    """How a single-user store records ``name`` (every record says it was not authenticated)."""
    return f"{name} · unauthenticated (single-user mode)"


#: A sample's required fields, for tests that create cases.
SAMPLE = {"sample_date": dt.date(2026, 5, 1), "specimen_id": "SP-1", "patient_ref": "PT-0001"}


def pg_bindir() -> Path | None:
    """The folder of ``initdb`` and ``pg_ctl``: on PATH, else Debian's ``/usr/lib/postgresql/<v>/bin``."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(os.path.realpath(found)).parent
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(d, "initdb").is_file() and Path(d, "pg_ctl").is_file():
            return Path(d)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def pg_server():
    """A PostgreSQL server in a temporary folder (trust authentication on 127.0.0.1, fsync off):
    yields its base URL ``postgresql+psycopg://postgres@127.0.0.1:PORT``; stopped and removed at the end."""
    bindir = pg_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found: run `bash .ci/install` as root "
                    "(apt-get install postgresql) to test on PostgreSQL too")
    run_as = {}
    if os.geteuid() == 0:  # the server refuses to run as root: run it as the postgres system user
        try:
            pw = pwd.getpwnam(PG_USER)
        except KeyError:
            pytest.skip(f"running as root and there is no {PG_USER!r} system user to run PostgreSQL as: "
                        "`bash .ci/install` creates it")
        run_as = {"user": pw.pw_uid, "group": pw.pw_gid}
    root = Path(tempfile.mkdtemp(prefix="leukemia-pg-"))
    if run_as:
        os.chown(root, run_as["user"], run_as["group"])
    data, port = root / "data", _free_port()
    try:
        subprocess.run([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                        "--no-sync"], check=True, capture_output=True, **run_as)
        subprocess.run([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-t", "60", "-o",
                        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off",
                        "start"], check=True, capture_output=True, **run_as)
    except subprocess.CalledProcessError as exc:
        log = (root / "log").read_text() if (root / "log").is_file() else ""
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"could not start a PostgreSQL server from {bindir}: {exc.stderr.decode()[-300:]} {log[-300:]}")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True,
                       **run_as)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server):
    """The URL of a new, empty database on the session's PostgreSQL server."""
    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(pg_server.replace("+psycopg", "") + "/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return f"{pg_server}/{name}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A URL of an empty database: a SQLite file, then a PostgreSQL database (skipped without a server)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cases.sqlite3'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def store(db_url, tmp_path):
    """An open, migrated case store on each backend; its images under the test's folder."""
    s = open_store(db_url, tmp_path / "home")
    yield s
    s.dispose()


def make_run(model: str = "m1", n: int = 3, p: tuple[float, ...] | None = None, threshold: float = 0.5,
             whole_image: bool = False) -> RunInput:
    """A run of ``n`` cells with P(ALL) ``p`` (default 0.9, 0.2, 0.6, ...), calls at ``threshold``."""
    ps = p or tuple([0.9, 0.2, 0.6, 0.1, 0.8][i % 5] for i in range(n))
    cells = [CellInput(i + 1, (10 * i, 5, 40, 40), ps[i], "ALL" if ps[i] >= threshold else "HEM",
                       refer=abs(ps[i] - threshold) < 0.15, crop_png=b"crop%d" % i, map_png=b"map%d" % i)
             for i in range(len(ps))]
    mean = sum(ps) / len(ps)
    return RunInput(model=model, weights_sha256="ab" * 32, threshold=threshold, image_threshold=threshold,
                    p_image=mean, image_call="ALL" if mean >= threshold else "HEM", cells=cells,
                    whole_image=whole_image)
