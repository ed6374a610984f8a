"""Login on the Cases page, end to end: Streamlit's ``st.login`` (OpenID Connect) against a real
provider, in a real browser.

With ``[auth]`` in the secrets the Cases page records every review and sign-off under the signed-in
user (``leukemia_core.cases.session.signed_in_name``): the login must work through a real provider's
redirects, tokens and cookies, the page must name the right user with the roles of the provider's
``groups`` claim (``leukemia_core.cases.access.roles_from_claims``), logging out must end the sign-in,
and two browsers signed in at once must each stay themselves (one user never acts as another).
Through the page itself: a reviewer without the signer role reviews a case and is refused its
sign-off (nothing is signed), then a signer signs it; every record names the user who clicked.

The provider is ``oidc-provider-mock`` (requirements.txt): a maintained, pure-Python OpenID provider
made for tests. The suite starts it on a thread (no container, no account, no network), it signs real
ID tokens, and each user's claims (email, name, a ``groups`` list) are set by the test. The app is
``streamlit run serve.py`` with a temporary ``secrets.toml`` and a temporary case store
(``oidc_fixtures``); headless Chromium drives both, and no request leaves the machine.
"""

from __future__ import annotations

import pytest
import re

from oidc_fixtures import (GROUPS, LOGIN_BUTTON, log_in, log_out, offline, oidc_app, oidc_provider,  # noqa: F401
                           open_cases, register_user, shown_roles, signed_in_as, user_cookie_claims)
from oidc_fixtures import (MODEL, SEEDER, SELECTED, app_store, confirm_signing, decide, decision_controls, open_case,
                           open_signing, seed_case, sign_off, wait_text)
from test_browser import CHROMIUM, CHROMIUM_ARGS, WAIT_MS

pytestmark = pytest.mark.slow

ALICE, BOB, CAROL = "alice@example.com", "bob@example.com", "carol@example.com"


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
    users = {sub: register_user(oidc_provider, sub, name=name) for sub, name in ((ALICE, "Alice Adams"),
                                                                             (BOB, "Bob Brown"))}
    users[CAROL] = register_user(oidc_provider, CAROL, name="Carol Clark", groups=["leukemia-reviewer"])
    return users


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


def _accept_button(page, n: int):
    return page.get_by_role("button", name=f"Accept the model's call for the {n} cell(s) not reviewed")


def test_review_sign_and_roles_through_the_page(browser, oidc_app, users):
    """Log in, review, sign, log out: a reviewer without the signer role reviews a case and is refused
    its sign-off through the page (0 signatures); a signer then signs it. Each record names its user."""
    from leukemia_core.cases.export import audit_rows
    from leukemia_core.cases.models import SIGNATURE_MEANINGS
    from leukemia_core.cases.repository import get_case

    case_id = "OIDC-1"
    seed_case(oidc_app, case_id)  # 3 cells of tiny_cnn, before any browser acts
    first, second = _context(browser), _context(browser)
    try:
        carol, alice = first.new_page(), second.new_page()
        assert log_in(carol, oidc_app.url, CAROL) == CAROL, oidc_app.log_tail()
        assert shown_roles(carol) == "reviewer"  # the provider's groups: no signer
        open_case(carol, oidc_app.url, case_id)
        assert decision_controls(carol).count() == 3
        assert carol.get_by_role("button", name="Sign off ...").is_disabled()  # cells not decided yet

        decide(carol, 0, "HEM")  # one cell by hand (the model said ALL) ...
        _accept_button(carol, 2).click(timeout=WAIT_MS)  # ... the rest as the model called them
        _accept_button(carol, 0).wait_for(timeout=WAIT_MS)  # nothing left to accept: saved
        for cell in (1, 2):  # the page draws the stored decisions
            decision_controls(carol).nth(cell).locator(SELECTED).filter(has_text="Accept").wait_for(timeout=WAIT_MS)
        sign_off(carol, CAROL)
        wait_text(carol, "does not have the signer role")
        refusal = carol.locator('[data-testid="stAlertContentError"]').filter(has_text="does not have the signer")
        assert re.match(f"{re.escape(CAROL)} does not have the signer role needed to sign", refusal.inner_text())
        assert carol.get_by_text("Sign-off 1:").count() == 0

        with app_store(oidc_app) as store:
            view = get_case(store, case_id)
            assert view.signoffs == [] and view.info.status == "in review"  # 0 signatures by carol
            cells = [c for _, _, c in view.cells(MODEL)]
            assert [(c.decision, c.reviewer) for c in cells] == [("HEM", CAROL), ("accept", CAROL), ("accept", CAROL)]
            trail = audit_rows(store, case_id)
        assert [(t["user"], t["action"]) for t in trail if t["user"] != SEEDER] == [
            (CAROL, "review"), (CAROL, "accept remaining")]  # nothing for the refused sign-off

        assert log_in(alice, oidc_app.url, ALICE) == ALICE, oidc_app.log_tail()
        open_case(alice, oidc_app.url, case_id)
        assert decision_controls(alice).nth(0).locator(SELECTED).inner_text().strip() == "HEM"  # carol's, drawn
        table = open_signing(alice)  # what is signed: the signing summary, one row per line
        summary = dict(tuple(t.strip() for t in row.locator("th, td").all_inner_texts())
                       for row in table.locator("tbody tr").all())
        assert summary["model"].startswith(f"{MODEL} (weights ") and summary["images / cells"] == "1 / 3", summary
        assert summary["cells reviewed"] == "3 (not reviewed: 0)", summary
        assert summary["calls changed by the review"].startswith("1 (ALL to HEM 1,"), summary
        assert summary["blast % model / reviewed"] == "66.7 / 33.3", summary
        assert alice.get_by_text("What this signature means").is_visible()
        confirm_signing(alice, ALICE)
        wait_text(alice, re.compile(f"^Sign-off 1: {re.escape(ALICE)}, .* UTC, on {MODEL} — "))
        shown = alice.locator('[data-testid="stAlertContentSuccess"]').filter(has_text="Sign-off 1:").inner_text()
        assert shown.strip().endswith(f"on {MODEL} — {SIGNATURE_MEANINGS[0]}"), shown
        assert alice.get_by_text("does not have the signer role").count() == 0

        with app_store(oidc_app) as store:
            view = get_case(store, case_id)
            trail = audit_rows(store, case_id)
        assert view.info.status == "signed" and len(view.signoffs) == 1
        signed = view.signoffs[0]
        assert (signed.number, signed.signed_by, signed.model) == (1, ALICE, MODEL)
        assert signed.meaning == SIGNATURE_MEANINGS[0] and re.fullmatch("[0-9a-f]{64}", signed.summary_sha256)
        assert [c["reviewer"] for c in signed.snapshot["cells"]] == [CAROL] * 3  # carol's reviews, alice's name
        assert [(t["user"], t["action"]) for t in trail if t["action"] == "sign"] == [(ALICE, "sign")]

        open_cases(carol, oidc_app.url)  # carol's browser: still carol, and the case signed by alice
        assert signed_in_as(carol) == CAROL
        wait_text(carol, f"Sign-off 1: {ALICE}")

        log_out(carol)
        log_out(alice)
        assert signed_in_as(carol) is None and signed_in_as(alice) is None
    finally:
        first.close()
        second.close()
