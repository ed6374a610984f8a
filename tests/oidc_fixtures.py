"""Fixtures for the login tests: a real OpenID Connect provider and the dashboard logging in to it.

* ``oidc_provider``: ``oidc-provider-mock`` (requirements.txt) served on a thread of the test process,
  on a port the OS picks; yields its URL. It accepts any client ID and secret; :func:`register_user`
  sets a user's claims (``PUT /users/<sub>``), which go into the ID token and the userinfo answer.
* ``oidc_app``: ``streamlit run serve.py`` on a free port, its secrets a temporary ``secrets.toml``
  with an ``[auth]`` table pointing at the provider (passed by ``--secrets.files``, so the checkout's
  ``.streamlit/`` is never written to), its case store a temporary folder (``LEUKEMIA_DATA_HOME``).
* :func:`log_in` and :func:`log_out`: the browser steps, through the provider's own pages.
* :func:`seed_case`: a case put straight into ``oidc_app``'s store, for the browsers to review and sign;
  :func:`open_case`, :func:`decide`, :func:`sign_off` (:func:`open_signing`, :func:`confirm_signing`)
  and :func:`wait_text`: the Cases page's steps (the gallery's decision controls, the signing panel).

The provider is served as ``127.0.0.1`` and the app as ``localhost``: different hosts, so their
cookies never mix (cookies do not tell ports apart). The app must be opened at the origin of its
``redirect_uri`` (Streamlit checks the sign-in cookie against it), hence ``localhost``.

Import into a test module: ``from oidc_fixtures import oidc_provider, oidc_app, log_in, log_out``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import urllib.parse
import urllib.request
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from app_fixtures import ROOT
from test_browser import LOCAL_HOSTS, WAIT_MS, _free_port, _idle, _wait_healthy, stop

#: What the app shows: the Cases page's login button (pages/cases.py, ``who()``), the sidebar's
#: "Signed in as NAME (ROLES)" line and its log-out button (pages/_auth.py, on every page).
LOGIN_BUTTON = "Log in to review"
LOGOUT_BUTTON = "Log out"
SIGNED_IN = "Signed in as "
#: The groups claim every registered test user carries.
GROUPS = ["leukemia-reviewer", "leukemia-signer"]
#: Who puts the seeded cases in the store (a signed-in reviewer, so the store is shared from then on).
SEEDER = "setup@example.com"
#: The model of the seeded readings: the app's (``LEUKEMIA_APP_MODELS``), so the page offers it.
MODEL = "tiny_cnn"
#: An option only the gallery's decision controls have (pages/cases.py, ``DECISION_LABELS``).
DECISION_ONLY = "Not a WBC"
#: A segmented control's chosen option (``data-selected`` in Streamlit 1.67; ``kind`` in other versions).
SELECTED = "button[data-selected], button[kind='segmented_controlActive']"
#: The name of Streamlit's sign-in cookie (signed, not encrypted: the claims it keeps for ``st.user``).
USER_COOKIE = "_streamlit_user"

_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy


@pytest.fixture(scope="module")
def oidc_provider():
    """The OpenID provider on a thread of this process; yields its URL (``http://127.0.0.1:PORT``)."""
    from authlib.deprecate import AuthlibDeprecationWarning

    with warnings.catch_warnings():  # its imports of Authlib's deprecated modules: not this project's to fix
        warnings.simplefilter("ignore", AuthlibDeprecationWarning)
        from oidc_provider_mock import run_server_in_thread

    with run_server_in_thread() as server:  # port 0: a free port; stopped when the block ends
        url = f"http://127.0.0.1:{server.server_port}"
        with _DIRECT.open(f"{url}/.well-known/openid-configuration", timeout=10) as r:
            assert json.load(r)["issuer"] == url
        yield url


def register_user(provider: str, sub: str, *, email: str | None = None, name: str | None = None,
                  groups: list[str] | None = None) -> dict:
    """Set the claims of user ``sub`` at the provider (email, name and a ``groups`` list); returns them."""
    claims = {"email": email or sub, "email_verified": True, "name": name or sub.split("@")[0].title(),
              "groups": list(GROUPS if groups is None else groups)}
    req = urllib.request.Request(f"{provider}/users/{urllib.parse.quote(sub, safe='')}", method="PUT",
                                 data=json.dumps(claims).encode(), headers={"Content-Type": "application/json"})
    with _DIRECT.open(req, timeout=10) as r:
        assert r.status == 204, r.status
    return claims


@dataclass(frozen=True)
class OidcApp:
    url: str            # http://localhost:PORT, the origin of the redirect URI
    log: Path           # the server's output
    cookie_secret: str  # signs Streamlit's sign-in cookie
    store: Path         # the case store's folder

    def log_tail(self, n: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-n:]


@pytest.fixture(scope="module")
def oidc_app(oidc_provider, tmp_path_factory):
    """``streamlit run serve.py`` with login through ``oidc_provider``, an empty weights folder and
    a temporary case store; always stopped afterwards."""
    base = tmp_path_factory.mktemp("oidc_app")
    port, cookie_secret = _free_port(), secrets.token_urlsafe(32)
    url = f"http://localhost:{port}"
    secrets_file = base / "secrets.toml"
    secrets_file.write_text(
        "[auth]\n"
        f'redirect_uri = "{url}/oauth2callback"\n'
        f'cookie_secret = "{cookie_secret}"\n'
        'client_id = "leukemia-dashboard"\n'
        f'client_secret = "{secrets.token_urlsafe(16)}"\n'
        f'server_metadata_url = "{oidc_provider}/.well-known/openid-configuration"\n')
    (base / "weights").mkdir()
    env = dict(os.environ, LEUKEMIA_WEIGHTS_DIR=str(base / "weights"), LEUKEMIA_APP_MODELS="tiny_cnn",
               LEUKEMIA_DATA_HOME=str(base / "case_store"), TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1",
               NO_PROXY="localhost,127.0.0.1", no_proxy="localhost,127.0.0.1")
    for var in ("LEUKEMIA_DB_URL", "LEUKEMIA_DATA"):
        env.pop(var, None)
    log = base / "streamlit.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "serve.py"),
                                 "--server.headless", "true", "--server.port", str(port),
                                 "--server.address", "127.0.0.1", "--secrets.files", str(secrets_file)],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_healthy(f"http://127.0.0.1:{port}", proc, log)
        yield OidcApp(url, log, cookie_secret, base / "case_store")
    finally:
        stop(proc)


def offline(context) -> None:
    """Abort every request of ``context`` to a host other than this machine (the provider's pages
    link a stylesheet on a CDN): the tests run without a network, and wait for nothing outside."""
    def route(r):
        if urllib.parse.urlsplit(r.request.url).hostname in LOCAL_HOSTS:
            r.continue_()
        else:
            r.abort()
    context.route("**/*", route)


def _back_in_app(page, app_url: str) -> None:
    """Wait for the redirects to end in the app (Streamlit sends the browser to its root page)."""
    page.wait_for_url(lambda u: u.startswith(app_url) and "/oauth2callback" not in u and "/auth/" not in u,
                      timeout=WAIT_MS)


def open_cases(page, app_url: str) -> None:
    page.goto(f"{app_url}/cases")
    page.get_by_role("heading", name="Cases").first.wait_for(timeout=WAIT_MS)
    page.get_by_role("button", name=LOGIN_BUTTON).or_(page.get_by_text(SIGNED_IN)).first.wait_for(timeout=WAIT_MS)
    _idle(page)


def _signed_in_caption(page) -> re.Match | None:
    """The sidebar's "Signed in as NAME (ROLES)" line, split (None when nobody is signed in)."""
    caption = page.get_by_text(re.compile("^" + SIGNED_IN))
    if caption.count() == 0:
        return None
    assert caption.count() == 1, caption.all_inner_texts()
    found = re.fullmatch(re.escape(SIGNED_IN) + r"(?P<name>\S+)(?: \((?P<roles>[^)]*)\))?",
                         caption.inner_text().strip())
    assert found, caption.inner_text()
    return found


def signed_in_as(page) -> str | None:
    """The user the sidebar names as signed in (None when nobody is)."""
    found = _signed_in_caption(page)
    return found["name"] if found else None


def shown_roles(page) -> str | None:
    """The roles the sidebar shows after the signed-in user's name (``"reviewer, signer"``)."""
    found = _signed_in_caption(page)
    return found["roles"] if found else None


def log_in(page, app_url: str, sub: str) -> str:
    """Log in on the Cases page as ``sub``: the page's login button, the provider's form (the subject
    typed, "Authorize"), back to the app and the Cases page again; returns the user the page names."""
    open_cases(page, app_url)
    page.get_by_role("button", name=LOGIN_BUTTON).click()
    page.locator('input[name="sub"]').fill(sub, timeout=WAIT_MS)  # the provider's authorization form
    page.get_by_role("button", name="Authorize", exact=True).click()
    _back_in_app(page, app_url)
    open_cases(page, app_url)
    name = signed_in_as(page)
    assert name, f"no user signed in after the provider's form; the page offers {LOGIN_BUTTON!r} again"
    return name


def log_out(page) -> None:
    """Log out on the Cases page: the page's button, the provider's end-session form ("End session"),
    back to the app; ends on the Cases page, which offers the login button again."""
    parts = urllib.parse.urlsplit(page.url)
    app_url = f"{parts.scheme}://{parts.netloc}"
    page.get_by_role("button", name=LOGOUT_BUTTON).click()
    page.get_by_role("button", name="End session").click(timeout=WAIT_MS)  # the provider's end-session form
    _back_in_app(page, app_url)
    open_cases(page, app_url)
    page.get_by_role("button", name=LOGIN_BUTTON).wait_for(timeout=WAIT_MS)


def user_cookie_claims(context, app: OidcApp) -> dict:
    """The claims Streamlit keeps for ``st.user``, read from the browser context's sign-in cookie."""
    from itsdangerous import URLSafeTimedSerializer

    values = [c["value"] for c in context.cookies(app.url) if c["name"] == USER_COOKIE]
    assert len(values) == 1, [c["name"] for c in context.cookies(app.url)]
    return json.loads(URLSafeTimedSerializer(app.cookie_secret, salt=USER_COOKIE).loads(values[0]))


@contextmanager
def app_store(app: OidcApp):
    """The app's case store, opened by this process (the same SQLite file the server uses, named
    outright so that a ``LEUKEMIA_DB_URL`` of the test run cannot send it elsewhere)."""
    from leukemia_core.cases.db import SQLITE_NAME, open_store

    store = open_store(f"sqlite:///{app.store / SQLITE_NAME}", app.store)
    try:
        yield store
    finally:
        store.dispose()


def seed_case(app: OidcApp, case_id: str, n_cells: int = 3) -> None:
    """Create ``case_id`` in ``app``'s store (by :data:`SEEDER`, signed in: the store is shared) with one
    image read by :data:`MODEL`: ``n_cells`` cells, each with a real (small) crop and map PNG."""
    import numpy as np
    from cases_fixtures import SAMPLE, make_run
    from leukemia_core.cases.access import Actor
    from leukemia_core.cases.importer import png
    from leukemia_core.cases.repository import add_reading, create_case

    seeder = Actor(SEEDER, True, frozenset({"reviewer"}))
    run = make_run(MODEL, n_cells)
    crop, heat = png(np.full((32, 32, 3), 200, np.uint8)), png(np.zeros((32, 32)))
    run = replace(run, cells=[replace(c, crop_png=crop, map_png=heat) for c in run.cells])
    with app_store(app) as store:
        create_case(store, case_id, seeder, **SAMPLE)
        add_reading(store, case_id, "smear.png", b"seeded image bytes", run, seeder)


def wait_text(page, pattern: str | re.Pattern) -> None:
    """Wait until the page shows ``pattern`` (a substring, or a regular expression), then until it settles."""
    page.get_by_text(pattern).first.wait_for(timeout=WAIT_MS)
    _idle(page)


def open_case(page, app_url: str, case_id: str) -> None:
    """Open the Cases page on ``case_id`` (the "Open case" box: the newest case comes first) and wait for
    its gallery."""
    open_cases(page, app_url)
    picker = page.locator('[data-testid="stSelectbox"]').filter(has_text="Open case")
    if case_id not in picker.inner_text(timeout=WAIT_MS):
        picker.locator('[role="combobox"]').click()
        page.get_by_role("option", name=case_id, exact=True).click()
    page.get_by_role("heading", name=f"Case {case_id}").wait_for(timeout=WAIT_MS)
    decision_controls(page).first.wait_for(timeout=WAIT_MS)
    _idle(page)


def decision_controls(page):
    """The gallery's decision controls, one per cell in the gallery's order (the page's other
    segmented controls, "Status" and "Show", lack the :data:`DECISION_ONLY` option)."""
    return page.locator('[data-testid="stButtonGroup"]').filter(has_text=DECISION_ONLY)


def decide(page, cell: int, label: str) -> None:
    """Click decision ``label`` ("Accept", "ALL", "HEM", "Not a WBC", "Can't tell") on the gallery's
    ``cell``-th cell (0-based); wait until the page shows it chosen (the decision is saved at once)."""
    exact = re.compile(rf"^\s*{re.escape(label)}\s*$")
    control = decision_controls(page).nth(cell)
    control.locator("button").filter(has_text=exact).click(timeout=WAIT_MS)
    control.locator(SELECTED).filter(has_text=exact).wait_for(timeout=WAIT_MS)
    _idle(page)


def open_signing(page):
    """Click "Sign off ..." (enabled once every cell is decided); returns the signing panel's summary
    table (what is signed), once drawn."""
    page.get_by_role("button", name=re.compile(r"^Sign off")).click(timeout=WAIT_MS)
    page.get_by_role("heading", name="Sign the case").wait_for(timeout=WAIT_MS)
    _idle(page)
    return page.locator('[data-testid="stTable"]')  # the page's other tables are dataframes


def confirm_signing(page, signer: str) -> None:
    """In the open signing panel: tick the confirmation (which names ``signer``) and click "Sign"; waits
    until the panel is gone (the page redraws with the sign-off or the refusal)."""
    page.get_by_text(re.compile(rf"^I, {re.escape(signer)}, sign sign-off ")).click(timeout=WAIT_MS)
    page.get_by_role("button", name="Sign", exact=True).click(timeout=WAIT_MS)  # enabled once ticked
    page.get_by_role("heading", name="Sign the case").wait_for(state="detached", timeout=WAIT_MS)
    _idle(page)


def sign_off(page, signer: str) -> None:
    """Sign the open case off as ``signer`` through the page: "Sign off ...", tick, "Sign"."""
    open_signing(page)
    confirm_signing(page, signer)
