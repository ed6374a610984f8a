"""Who is using the app, shown on every page: signed in through the deployment's OpenID Connect
provider (``[auth]`` in ``.streamlit/secrets.toml``), or single-user mode, where nobody signs in and
every case record says ``unauthenticated (single-user mode)``. The rules themselves live in
``leukemia_core.cases.access``; this module only reads Streamlit's login state and draws it.
"""

from __future__ import annotations

import streamlit as st

from leukemia_core.cases.access import Actor, roles_from_claims
from leukemia_core.cases.session import auth_configured, signed_in_name
from pages._messages import plain


def login_configured() -> bool:
    """Whether this deployment's secrets configure a login."""
    try:
        return bool(st.secrets.load_if_toml_exists()) and auth_configured(st.secrets)
    except Exception:  # noqa: BLE001 - an unreadable secrets file: single-user mode
        return False


def _cases_config() -> dict:
    try:
        return dict(st.secrets.get("cases", {}))
    except Exception:  # noqa: BLE001 - no secrets file
        return {}


def signed_in_actor() -> Actor | None:
    """The signed-in user as an :class:`Actor` (roles from the provider's group claim), or None."""
    if not login_configured() or not st.user.is_logged_in:
        return None
    claims = {**st.user.to_dict(), "is_logged_in": True}
    name = signed_in_name(claims)
    when = claims.get("auth_time") or claims.get("iat")
    try:
        when = float(when) if when is not None else None
    except (TypeError, ValueError):
        when = None
    return Actor(name, True, roles_from_claims(claims, _cases_config()), when) if name else None


def auth_sidebar() -> None:
    """The sidebar's line on how the app runs: who is signed in (with a log-out button) or a log-in
    button, or that it runs single-user without authentication."""
    with st.sidebar:
        if not login_configured():
            st.caption("**Single-user mode**: nobody signs in; case records say \"unauthenticated (single-user "
                       "mode)\". A shared server needs a login (README: Sign-in).")
            return
        actor = signed_in_actor()
        if actor is None:
            st.caption("**Shared server**: sign in to review or sign cases.")
            st.button("Log in", on_click=st.login, key="auth_login", type="primary")
            return
        roles = ", ".join(sorted(actor.roles)) or "no role from the provider's groups"
        st.caption(f"Signed in as {plain(actor.name)} ({plain(roles)})")
        st.button("Log out", on_click=st.logout, key="auth_logout")
