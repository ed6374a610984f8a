"""Login on the Cases page, end to end: Streamlit's ``st.login`` (OpenID Connect) against a real
provider, in a real browser.

With ``[auth]`` in the secrets the Cases page records every review and sign-off under the signed-in
user (``leukemia_core.cases.session.signed_in_name``): the login must work through a real provider's
redirects, tokens and cookies, the page must name the right user with the roles of the provider's
``groups`` claim (``leukemia_core.cases.access.roles_from_claims``), logging out must end the sign-in,
and two browsers signed in at once must each stay themselves (one user never acts as another).

The provider is ``oidc-provider-mock`` (requirements.txt): a maintained, pure-Python OpenID provider
made for tests. The suite starts it on a thread (no container, no account, no network), it signs real
ID tokens, and each user's claims (email, name, a ``groups`` list) are set by the test. The app is
``streamlit run serve.py`` with a temporary ``secrets.toml`` and a temporary case store
(``oidc_fixtures``); headless Chromium drives both, and no request leaves the machine.
"""

from __future__ import annotations

import pytest
from oidc_fixtures import (GROUPS, LOGIN_BUTTON, log_in, log_out, offline, oidc_app, oidc_provider,  # noqa: F401
                           open_cases, register_user, shown_roles, signed_in_as, user_cookie_claims)
from test_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.slow

ALICE, BOB = "alice@example.com", "bob@example.com"


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def users(oidc_provider):
    return {sub: register_user(oidc_provider, sub, name=name) for sub, name in ((ALICE, "Alice Adams"),
                                                                            (BOB, "Bob Brown"))}


def _context(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    offline(context)
    return context


def test_login_names_the_user_and_logout_ends_it(browser, oidc_app, users):
    context = _context(browser)
    try:
        page = context.new_page()
        open_cases(page, oidc_app.url)
        assert signed_in_as(page) is None  # [auth] configured: a login, no typed name
        assert page.get_by_role("button", name=LOGIN_BUTTON).is_visible()
        assert page.get_by_label("Your name (recorded with every review and sign-off)").count() == 0

        assert log_in(page, oidc_app.url, ALICE) == ALICE, oidc_app.log_tail()
        assert page.get_by_role("button", name="Log out").is_visible()
        assert page.get_by_role("button", name=LOGIN_BUTTON).count() == 0
        claims = user_cookie_claims(context, oidc_app)  # what st.user holds: the provider's ID token
        assert (claims["sub"], claims["email"], claims["name"]) == (ALICE, ALICE, "Alice Adams")
        assert claims["groups"] == GROUPS and claims["is_logged_in"] is True
        assert shown_roles(page) == "reviewer, signer"  # the groups claim gives the case-store roles

        open_cases(page, oidc_app.url)  # a new session of the same browser stays signed in (the cookie)
        assert signed_in_as(page) == ALICE

        log_out(page)
        assert signed_in_as(page) is None
        assert page.get_by_role("button", name="Log out").count() == 0
        assert [c for c in context.cookies(oidc_app.url) if c["name"].startswith("_streamlit_user")] == []
    finally:
        context.close()


def test_two_users_at_once_each_stay_themselves(browser, oidc_app, users):
    first, second = _context(browser), _context(browser)  # two browsers: separate cookies
    try:
        alice, bob = first.new_page(), second.new_page()
        assert log_in(alice, oidc_app.url, ALICE) == ALICE, oidc_app.log_tail()
        open_cases(bob, oidc_app.url)
        assert signed_in_as(bob) is None  # alice's login does not sign in another browser
        assert log_in(bob, oidc_app.url, BOB) == BOB, oidc_app.log_tail()

        for page, me, other in ((alice, ALICE, BOB), (bob, BOB, ALICE)):
            open_cases(page, oidc_app.url)  # a new session of each, after both logins
            assert signed_in_as(page) == me
            assert page.get_by_text(other).count() == 0
        assert user_cookie_claims(first, oidc_app)["email"] == ALICE
        assert user_cookie_claims(second, oidc_app)["email"] == BOB

        log_out(bob)  # one user's logout leaves the other signed in
        open_cases(alice, oidc_app.url)
        assert signed_in_as(alice) == ALICE
    finally:
        first.close()
        second.close()
