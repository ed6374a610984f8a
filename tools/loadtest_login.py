"""Signed-in users for the case load test (:mod:`tools.loadtest_cases`): Streamlit's OpenID Connect
login (``st.login``) against ``oidc-provider-mock`` (requirements.txt), as ``tests/test_cases_oidc.py``
does it (the tools do not import the tests, so the steps are written here again).

* :func:`provider`: the OpenID provider on a thread of this process, on a port the OS picks; it
  accepts any client ID and secret. :func:`register_user` sets a user's claims (``PUT /users/<sub>``:
  e-mail, name, a ``groups`` list), which go into the ID token.
* :func:`write_secrets`: a ``secrets.toml`` with an ``[auth]`` table pointing at the provider, for
  ``streamlit run ... --secrets.files`` (the checkout's ``.streamlit/`` is never written to).
* :func:`offline` and :func:`log_in`: the browser's steps (async Playwright API), through the
  provider's own authorization form.
* :func:`signed_in_check`: afterwards, that every review in the store names a signed-in user.

The provider is reached as ``127.0.0.1`` and the app as ``localhost``: different hosts, so their
cookies never mix (cookies do not tell ports apart). The app must be opened at the origin of its
``redirect_uri`` (Streamlit checks the sign-in cookie against it), hence ``localhost``.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
import urllib.parse
import urllib.request
import warnings
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

#: What the JSON report says about how the sessions signed in.
LOGIN = "OpenID Connect (oidc-provider-mock)"
#: The groups claim of every load-test user: the reviewer role (leukemia_core.cases.access.ROLE_GROUPS).
GROUPS = ["leukemia-reviewer"]
#: The Cases page's login button (pages/cases.py, ``who()``) and the sidebar's line (pages/_auth.py).
LOGIN_BUTTON = "Log in to review"
SIGNED_IN = "Signed in as "
#: Audit actions of the tool's own import of the cases (before any session signs in).
IMPORT_ACTIONS = ("create case", "add image", "add run")
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}

_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy


@contextmanager
def provider() -> Iterator[str]:
    """Serve the OpenID provider on a thread; yields its URL (``http://127.0.0.1:PORT``), stopped at the end."""
    from authlib.deprecate import AuthlibDeprecationWarning  # its import sets an "always" filter: first

    with warnings.catch_warnings():  # its imports of Authlib's deprecated modules: not this project's to fix
        warnings.simplefilter("ignore", AuthlibDeprecationWarning)
        from oidc_provider_mock import run_server_in_thread

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per request of the provider
    with run_server_in_thread() as server:
        url = f"http://127.0.0.1:{server.server_port}"
        with _DIRECT.open(f"{url}/.well-known/openid-configuration", timeout=10) as r:
            issuer = json.load(r)["issuer"]
        if issuer != url:
            raise RuntimeError(f"the OpenID provider names itself {issuer}, expected {url}")
        yield url


def register_user(provider_url: str, sub: str, groups: list[str] | None = None) -> dict:
    """Set the claims of user ``sub`` (an e-mail) at the provider: email, name and ``groups``; returns them."""
    claims = {"email": sub, "email_verified": True, "name": sub.split("@")[0].title(),
              "groups": list(GROUPS if groups is None else groups)}
    req = urllib.request.Request(f"{provider_url}/users/{urllib.parse.quote(sub, safe='')}", method="PUT",
                                 data=json.dumps(claims).encode(), headers={"Content-Type": "application/json"})
    with _DIRECT.open(req, timeout=10) as r:
        if r.status != 204:
            raise RuntimeError(f"the provider answered {r.status} to registering {sub}")
    return claims


def write_secrets(path: Path, app_url: str, provider_url: str) -> Path:
    """Write a ``secrets.toml`` whose ``[auth]`` table logs in to the app at ``app_url`` through
    ``provider_url`` (a fresh cookie secret and client secret); returns ``path``."""
    path.write_text(
        "[auth]\n"
        f'redirect_uri = "{app_url}/oauth2callback"\n'
        f'cookie_secret = "{secrets.token_urlsafe(32)}"\n'
        'client_id = "leukemia-dashboard"\n'
        f'client_secret = "{secrets.token_urlsafe(16)}"\n'
        f'server_metadata_url = "{provider_url}/.well-known/openid-configuration"\n')
    return path


async def offline(context) -> None:
    """Abort every request of ``context`` to a host other than this machine (the provider's pages link
    a stylesheet on a CDN): the run needs no network and waits for nothing outside."""
    async def _route(r):
        if urllib.parse.urlsplit(r.request.url).hostname in LOCAL_HOSTS:
            await r.continue_()
        else:
            await r.abort()
    await context.route("**/*", _route)


async def open_cases(page, app_url: str, tmo_ms: float) -> None:
    """Open the Cases page and wait until it offers the login button or names the signed-in user."""
    from tools.loadtest_session import wait_idle

    await page.goto(f"{app_url}/cases", wait_until="domcontentloaded", timeout=tmo_ms)
    await page.get_by_role("heading", name="Cases").first.wait_for(timeout=tmo_ms)
    found = page.get_by_role("button", name=LOGIN_BUTTON).or_(page.get_by_text(SIGNED_IN))
    await found.first.wait_for(timeout=tmo_ms)
    await wait_idle(page, tmo_ms)


async def log_in(page, app_url: str, sub: str, tmo_ms: float) -> str:
    """Log in on the Cases page as ``sub``: the page's login button, the provider's form (the subject
    typed, "Authorize"), back to the app (its root page) and the Cases page again. Returns the sidebar's
    "Signed in as NAME (ROLES)" line; RuntimeError when it does not name ``sub``."""
    await open_cases(page, app_url, tmo_ms)
    await page.get_by_role("button", name=LOGIN_BUTTON).click(timeout=tmo_ms)
    await page.locator('input[name="sub"]').fill(sub, timeout=tmo_ms)  # the provider's authorization form
    await page.get_by_role("button", name="Authorize", exact=True).click(timeout=tmo_ms)
    # back at the app's root (the callback set the sign-in cookie): on to the Cases page at once, not
    # waiting for the root page to load (a page load less per login for the two shared cores)
    await page.wait_for_url(lambda u: u.startswith(app_url) and "/oauth2callback" not in u and "/auth/" not in u,
                            timeout=tmo_ms, wait_until="commit")
    await open_cases(page, app_url, tmo_ms)
    caption = page.get_by_text(re.compile("^" + re.escape(SIGNED_IN)))
    if not await caption.count():
        raise RuntimeError(f"no user signed in after the provider's form; the page offers {LOGIN_BUTTON!r} again")
    line = (await caption.first.inner_text(timeout=tmo_ms)).strip()
    if not line.startswith(f"{SIGNED_IN}{sub} ("):
        raise RuntimeError(f"logged in as {sub}, the sidebar reads {line!r}")
    return line


async def timed_log_in(page, app_url: str, sub: str, tmo_ms: float, rec: dict) -> None:
    """:func:`log_in`; ``rec`` gets the sidebar's line (``signed_in_as``) and the seconds it took (``login_s``)."""
    t = time.perf_counter()
    rec["signed_in_as"] = await log_in(page, app_url, sub, tmo_ms)
    rec["login_s"] = round(time.perf_counter() - t, 3)


def signed_in_check(url: str, home: Path, users: set[str]) -> dict:
    """Read the store at ``url``: every review row and every audit line other than the tool's import
    (:data:`IMPORT_ACTIONS`) must name one of ``users`` (signed in: the name alone, no
    ``· unauthenticated``), and the store must have become shared. Returns the check and what the
    import is recorded as."""
    from sqlalchemy import select

    from leukemia_core.cases.access import store_mode
    from leukemia_core.cases.db import open_store
    from leukemia_core.cases.export import audit_rows
    from leukemia_core.cases.models import Review

    store = open_store(url, home)
    try:
        with store.read() as s:
            reviewers = Counter(s.scalars(select(Review.reviewer)))
        audit = audit_rows(store)
        mode = store_mode(store)
    finally:
        store.dispose()
    failures = [f"{n} review(s) by {r!r}, not a signed-in session user" for r, n in reviewers.items()
                if r not in users]
    by_sessions = Counter((a["user"], a["action"]) for a in audit if a["action"] not in IMPORT_ACTIONS)
    failures += [f"{n} audit line(s) {act!r} by {u!r}, not a signed-in session user"
                 for (u, act), n in by_sessions.items() if u not in users]
    if mode != "shared":
        failures.append(f"the store's mode is {mode!r} after the sessions, not 'shared'")
    imported = Counter(a["user"] for a in audit if a["action"] in IMPORT_ACTIONS)
    return {"reviews_by_signed_in_users": not failures, "signed_in_failures": failures,
            "store_mode_after": mode, "reviews_stored_by": dict(sorted(reviewers.items())),
            "import_recorded_as": dict(imported)}
