"""Opening the case store: the database (SQLite file by default, PostgreSQL by ``LEUKEMIA_DB_URL``),
its migrations, and the folder of image files the server owns.

* Default: ``$LEUKEMIA_DATA_HOME`` (else ``case_store/`` in the checkout) holds ``cases.sqlite3`` and
  ``images/``; both are created on first use, no set-up. SQLite runs in WAL mode (readers never
  wait for the writer) with foreign keys on and a 10 s busy timeout.
* ``LEUKEMIA_DB_URL=postgresql+psycopg://user:pass@host/db`` puts the tables in PostgreSQL; the
  image files stay in the data folder.
* :func:`open_store` migrates the database to the newest schema (Alembic, run in code: works from
  any working directory) and turns every failure into a :class:`~.errors.CaseStoreError` whose
  message says what to check, never a stack trace.

Writes go through :meth:`Store.write`, one transaction each: all of it is stored or none (a crash
mid-save leaves the database as before). On SQLite a write transaction starts with
``BEGIN IMMEDIATE`` (on a separate engine), so two writers queue instead of one failing with
"database is locked" after having read.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ..paths import PROJECT_ROOT
from .errors import CaseStoreError

#: Environment variable: the database URL (SQLAlchemy form). Unset: the SQLite file of the data folder.
DB_URL_ENV = "LEUKEMIA_DB_URL"
#: Environment variable: the folder the server owns for the case store (SQLite file and images).
DATA_HOME_ENV = "LEUKEMIA_DATA_HOME"
#: SQLite file name inside the data folder.
SQLITE_NAME = "cases.sqlite3"
#: Where the Alembic revisions live (inside the package).
MIGRATIONS = Path(__file__).resolve().parent / "migrations"

# Alembic logs every plugin and step at INFO: noise on the CLI's and the server's stderr
logging.getLogger("alembic").setLevel(logging.WARNING)


def data_home() -> Path:
    """``$LEUKEMIA_DATA_HOME``, else ``case_store/`` in the checkout (ignored by git)."""
    return Path(os.environ.get(DATA_HOME_ENV) or PROJECT_ROOT / "case_store")


def database_url(home: Path | None = None) -> str:
    """``$LEUKEMIA_DB_URL``, else ``sqlite:///<data home>/cases.sqlite3``."""
    return os.environ.get(DB_URL_ENV) or f"sqlite:///{(home or data_home()) / SQLITE_NAME}"


def shown_url(url: str) -> str:
    """``url`` with its password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparsable URL)"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA synchronous=NORMAL")  # durable in WAL mode up to the last checkpointed commit
    cur.close()


def _make_engine(url: str, immediate: bool = False) -> Engine:
    """An engine for ``url``; SQLite gets its pragmas and, with ``immediate``, ``BEGIN IMMEDIATE``."""
    u = make_url(url)
    if u.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"timeout": 10, "check_same_thread": False})
    event.listen(engine, "connect", _sqlite_pragmas)

    @event.listens_for(engine, "connect")
    def _no_implicit_begin(dbapi_connection, _record):
        # the sqlite3 module's own BEGIN comes too late (at the first write); SQLAlchemy's recipe
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def alembic_config(connection):
    """An Alembic ``Config`` built in code (no ini file) that migrates on ``connection``."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """The newest revision this program knows."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(None)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None: empty or not a case store)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database to ``revision`` (default the newest), in one transaction."""
    from alembic import command

    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), revision)


class Store:
    """An open case store: the database engines and the image folder.

    Attributes:
        url: the database URL (with password).
        home: the data folder (``images/`` holds the image files by sha256).
        engine: for reads; ``writer`` for write transactions (the same engine off SQLite).
    """

    def __init__(self, url: str, home: Path):
        """Make the engines; nothing is connected yet (see :func:`open_store`)."""
        self.url, self.home = url, Path(home)
        self.engine = _make_engine(url)
        self.writer = _make_engine(url, immediate=True) if self.engine.dialect.name == "sqlite" else self.engine
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(self.writer, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading (rolled back at the end)."""
        with self._read() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session whose work is committed at the end, or rolled back entirely on any error."""
        with self._write() as session, session.begin():
            yield session

    def image_path(self, sha256: str) -> Path:
        """Where the bytes of the image ``sha256`` are kept."""
        return self.home / "images" / sha256[:2] / sha256

    def put_image(self, data: bytes) -> str:
        """Keep ``data`` once under its sha256 (written to a temporary file, then renamed: a crash
        leaves no half file); return the sha256. A file left by a save that failed later is only
        unreferenced, never wrong (its name is its content's hash)."""
        sha = hashlib.sha256(data).hexdigest()
        path = self.image_path(sha)
        if path.is_file() and path.stat().st_size == len(data):
            return sha
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return sha

    def image_bytes(self, sha256: str) -> bytes:
        """The stored bytes of image ``sha256``.

        Raises:
            CaseStoreError: the file is missing or does not match its hash.
        """
        path = self.image_path(sha256)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CaseStoreError(f"image file {path} of the case store cannot be read ({exc.strerror or exc}); "
                                 f"restore the data folder {self.home}") from None
        if hashlib.sha256(data).hexdigest() != sha256:
            raise CaseStoreError(f"image file {path} was altered (its sha256 no longer matches); restore it")
        return data

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
        if self.writer is not self.engine:
            self.writer.dispose()


def open_store(url: str | None = None, home: Path | None = None, migrate: bool = True) -> Store:
    """Open (and on first use create) the case store, migrated to the newest schema.

    Args:
        url: database URL; default :func:`database_url`.
        home: data folder; default :func:`data_home`.
        migrate: run the migrations (False: the schema must already be current).

    Raises:
        CaseStoreError: the URL is invalid, the server cannot be reached, the folder cannot be
            written, the file is not a database, or its schema is newer than this program's.
    """
    home = Path(home) if home else data_home()
    url = url or database_url(home)
    where = shown_url(url)
    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError:
        raise CaseStoreError(f"the case database URL {where!s} is not a database URL (e.g. "
                             "postgresql+psycopg://user:password@host/dbname); check $LEUKEMIA_DB_URL") from None
    try:
        (home / "images").mkdir(parents=True, exist_ok=True)
        if backend == "sqlite" and make_url(url).database:
            Path(make_url(url).database).parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CaseStoreError(f"cannot create the case store folder {home}: {exc.strerror or exc}; set "
                             f"${DATA_HOME_ENV} to a folder this server may write") from None
    try:
        store = Store(url, home)
    except (NoSuchModuleError, ImportError) as exc:
        raise CaseStoreError(f"no database driver for {where}: {exc}; use sqlite:/// or postgresql+psycopg://") \
            from None
    except ArgumentError as exc:
        raise CaseStoreError(f"the case database URL {where} is not valid: {exc}") from None
    try:
        known, head = current_revision(store.engine), head_revision()
        if known is not None and known != head and not _is_known(known):
            raise CaseStoreError(f"the case database at {where} has schema revision {known}, newer than this "
                                 f"program knows (up to {head}): update the program; nothing was changed")
        if migrate:
            upgrade(store.engine)
        elif known != head:
            raise CaseStoreError(f"the case database at {where} is at schema revision {known or 'none'}, not "
                                 f"{head}: start the app or run a cases command once to migrate it")
        with store.engine.connect() as conn:
            conn.execute(text("SELECT 1 FROM cases LIMIT 1"))
    except CaseStoreError:
        store.dispose()
        raise
    except (SQLAlchemyError, OSError) as exc:
        store.dispose()
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        hint = (f"check that the file is a case store and that {home} is writable (or set ${DATA_HOME_ENV})"
                if backend == "sqlite" else f"check ${DB_URL_ENV}: server running, host, port, user, password")
        raise CaseStoreError(f"cannot open the case database at {where}: {reason}; {hint}") from None
    return store


def _is_known(revision: str) -> bool:
    from alembic.script import ScriptDirectory

    try:
        return ScriptDirectory.from_config(alembic_config(None)).get_revision(revision) is not None
    except Exception:  # noqa: BLE001 - alembic raises several kinds for an unknown id
        return False


def table_names(store: Store) -> set[str]:
    """The tables of the store's database (for checks and tests)."""
    return set(inspect(store.engine).get_table_names())
