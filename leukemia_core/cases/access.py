"""Who may change the case store, and what each record says about them.

A store runs in one of two modes (the ``settings`` table, :func:`store_mode`):

* **single-user** (a new store): one person on one machine types a name; nothing checks it, so
  every record made this way names the person *and* says ``unauthenticated (single-user mode)``
  (:func:`act` returns that recorded name).
* **shared**: every review, sign-off and amendment is by a signed-in user (an :class:`Actor` the app
  makes from the OpenID Connect login) holding the right role. A store becomes shared the first
  time a signed-in user changes it, or by ``cases mode shared``; it never goes back on its own,
  so a server started without a login cannot quietly write unauthenticated reviews into it.
  Imports from the command line stay possible (recorded as ``unauthenticated (command line)``);
  reviews and sign-offs from it are refused: the command line cannot authenticate anyone.

Roles (:data:`ROLES`): ``reviewer`` (reclassify, accept) and ``signer`` (sign, amend). A signed-in
user's roles are those of the provider's group claim (:func:`roles_from_claims`) together with
those the lab granted in the ``users`` table (``cases users grant``); a user set inactive there has
none. The four-eyes setting (``cases mode --four-eyes on``) refuses a sign-off by the only reviewer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterable, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from .db import Store
from .errors import CaseAccessError, CaseInputError
from .models import AuditEntry, Setting, User, utcnow

#: The roles a lab grants: who may reclassify and accept cells, who may sign and amend.
ROLES = ("reviewer", "signer")
#: What each change needs: a role, or None (anyone the mode lets in).
RIGHTS = {"review": "reviewer", "sign": "signer", "amend": "signer", "create": None, "import": None}
#: Store modes.
SINGLE_USER, SHARED = "single-user", "shared"
#: What a record made without a login says after the name.
UNAUTHENTICATED = "unauthenticated (single-user mode)"
COMMAND_LINE = "unauthenticated (command line)"
#: The default claim and group names the roles are read from (a deployment's ``[cases]`` secrets
#: table can name others: ``role_claim``, ``reviewer_groups``, ``signer_groups``).
ROLE_CLAIM = "groups"
ROLE_GROUPS = {"reviewer": ("leukemia-reviewer",), "signer": ("leukemia-signer",)}
MAX_USER = 200
#: A signature (sign, amend) by a signed-in user needs a sign-in at most this old (seconds): the
#: signer re-authenticates with the provider for it (setting ``sign_within_s`` overrides).
SIGN_WITHIN_S = 900


@dataclass(frozen=True)
class Actor:
    """Who acts: ``name`` (for a signed-in user the identity token's e-mail or subject),
    ``authenticated`` (True only when the app read it from a completed login), the roles the
    provider's groups give (the store's ``users`` table may add or take away) and when the
    provider authenticated them (a signature needs a recent sign-in, :data:`SIGN_WITHIN_S`)."""

    name: str
    authenticated: bool = False
    roles: frozenset = frozenset()
    #: when the provider last authenticated the user (POSIX seconds: the token's ``auth_time``, else
    #: ``iat``); None when unknown
    signed_in_at: float | None = None


def validate_user(user: str | Actor | None) -> str:
    """The trimmed user name; :class:`CaseInputError` when blank or too long."""
    name = ((user.name if isinstance(user, Actor) else user) or "").strip()
    if not name:
        raise CaseInputError("no reviewer: sign in (or enter your name) before changing a case")
    if len(name) > MAX_USER - len(UNAUTHENTICATED) - 3:
        raise CaseInputError(f"the reviewer name is longer than {MAX_USER - len(UNAUTHENTICATED) - 3} characters")
    return name


def roles_from_claims(user: Mapping | None, config: Mapping | None = None) -> frozenset:
    """The roles a signed-in user's claims give: the groups in ``config['role_claim']`` (default
    :data:`ROLE_CLAIM`) mapped by ``config['<role>_groups']`` (default :data:`ROLE_GROUPS`)."""
    config = config or {}
    groups = (user or {}).get(config.get("role_claim", ROLE_CLAIM)) or []
    groups = {groups} if isinstance(groups, str) else {str(g) for g in groups}
    return frozenset(r for r in ROLES if groups & set(config.get(f"{r}_groups", ROLE_GROUPS[r])))


def setting(s: Session, key: str, default: str) -> str:
    """A store setting's value inside the caller's transaction (``default`` when never set)."""
    row = s.get(Setting, key)
    return row.value if row is not None else default


def _put_setting(s: Session, key: str, value: str, user: str) -> None:
    row = s.get(Setting, key)
    if row is None:
        s.add(Setting(key=key, value=value, updated_at=utcnow(), updated_by=user))
    else:
        row.value, row.updated_at, row.updated_by = value, utcnow(), user
    s.add(AuditEntry(at=utcnow(), user=user, case_pk=None, action="setting", detail=json.dumps({key: value})))


def store_mode(store: Store) -> str:
    """:data:`SINGLE_USER` or :data:`SHARED`."""
    with store.read() as s:
        return setting(s, "mode", SINGLE_USER)


def four_eyes(store: Store) -> bool:
    """Whether a case's only reviewer is refused as its signer."""
    with store.read() as s:
        return setting(s, "four_eyes", "off") == "on"


def set_mode(store: Store, user: str, mode: str | None = None, four_eyes_on: bool | None = None) -> None:
    """Set the store's mode and/or the four-eyes rule (audited; the command line's ``cases mode``)."""
    if mode is not None and mode not in (SINGLE_USER, SHARED):
        raise CaseInputError(f"unknown mode {mode!r}: {SINGLE_USER} or {SHARED}")
    user = validate_user(user)
    with store.write() as s:
        if mode is not None:
            _put_setting(s, "mode", mode, user)
        if four_eyes_on is not None:
            _put_setting(s, "four_eyes", "on" if four_eyes_on else "off", user)


def _roles_text(roles: Iterable[str]) -> str:
    roles = set(roles)
    bad = sorted(roles - set(ROLES))
    if bad:
        raise CaseInputError(f"unknown role(s) {bad}: {', '.join(ROLES)}")
    return ",".join(r for r in ROLES if r in roles)


def grant(store: Store, name: str, roles: Iterable[str], by: str, active: bool = True) -> dict:
    """Set ``name``'s roles in the ``users`` table (replacing the earlier ones; audited); return the row."""
    name, by, text = validate_user(name), validate_user(by), _roles_text(roles)
    with store.write() as s:
        row = s.get(User, name)
        if row is None:
            s.add(User(name=name, roles=text, active=active, updated_at=utcnow(), updated_by=by))
        else:
            row.roles, row.active, row.updated_at, row.updated_by = text, active, utcnow(), by
        s.add(AuditEntry(at=utcnow(), user=by, case_pk=None, action="user roles",
                         detail=json.dumps({"name": name, "roles": text, "active": active})))
    return {"name": name, "roles": text, "active": active}


def list_users(store: Store) -> list[dict]:
    """The ``users`` table: ``{name, roles, active, updated_at, updated_by}`` by name."""
    with store.read() as s:
        return [{"name": u.name, "roles": u.roles, "active": u.active, "updated_at": u.updated_at,
                 "updated_by": u.updated_by} for u in s.scalars(select(User).order_by(User.name))]


def effective_roles(s: Session, actor: Actor) -> frozenset:
    """A signed-in actor's roles: the provider's with the ``users`` table's; none when set inactive there."""
    row = s.get(User, actor.name.strip())
    if row is None:
        return frozenset(actor.roles)
    if not row.active:
        return frozenset()
    return frozenset(actor.roles) | frozenset(r for r in row.roles.split(",") if r)


def sign_in_age(actor: Actor, now: float | None = None) -> float | None:
    """Seconds since the provider authenticated ``actor`` (None when unknown or not signed in)."""
    import time

    if not actor.authenticated or actor.signed_in_at is None:
        return None
    return max(0.0, (time.time() if now is None else now) - float(actor.signed_in_at))


def roles_of(store: Store, actor: Actor) -> frozenset:
    """A signed-in actor's roles now (:func:`effective_roles`, read in its own transaction)."""
    with store.read() as s:
        return effective_roles(s, actor)


def act(s: Session, user: str | Actor, right: str) -> str:
    """Check, inside the caller's transaction, that ``user`` may do ``right`` (a key of
    :data:`RIGHTS`) in this store; return the name to record.

    Raises:
        CaseInputError: no name; CaseAccessError: a shared store and no signed-in user, or a
        signed-in user without the role.
    """
    actor = user if isinstance(user, Actor) else Actor(str(user or ""))
    name = validate_user(actor)
    mode = setting(s, "mode", SINGLE_USER)
    if actor.authenticated:
        if mode != SHARED:  # a login was used on this store: from now on it is shared
            _put_setting(s, "mode", SHARED, name)
        need = RIGHTS[right]
        if need and need not in effective_roles(s, actor):
            raise CaseAccessError(f"{name} does not have the {need} role needed to {right}: ask the lab's "
                                  "administrator (identity provider group, or `cases users grant`)")
        age, within = sign_in_age(actor), float(setting(s, "sign_within_s", str(SIGN_WITHIN_S)))
        if need == "signer" and age is not None and age > within:
            raise CaseAccessError(f"your sign-in is {age / 60:.0f} min old; a signature needs one of the last "
                                  f"{within / 60:.0f} min: log out and sign in again, then sign")
        return name
    if mode == SHARED:
        if RIGHTS[right]:
            raise CaseAccessError(f"this case store is shared: to {right} a case, sign in to the app (the "
                                  "command line and single-user mode cannot authenticate anyone); nothing was saved")
        return f"{name} · {COMMAND_LINE}"
    return f"{name} · {UNAUTHENTICATED}"
