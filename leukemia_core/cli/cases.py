"""``python -m leukemia_core cases ...``: the case store from the command line, so that batch runs and
the app's Cases page meet in one store (the same ``$LEUKEMIA_DB_URL`` / ``$LEUKEMIA_DATA_HOME``).

* ``cases import PATH --case ID``: a ``predict`` CSV (``--cells`` its cell CSV), a ``screen`` output
  folder, or image files / a folder run through ``--model`` here; the case is created when absent.
* ``cases list [--status S] [--text T]``: one line per case, newest change first.
* ``cases export --out FILE [--case ID] [--audit]``: a case's cells, every case (one row per case
  and model), or the audit log, as CSV.
* ``cases bench --out FILE``: the case-review benchmark (:mod:`leukemia_core.bench.cases`).
* ``cases users grant NAME --role reviewer --role signer`` / ``revoke NAME`` / ``list``: the roles a
  lab grants (beside the identity provider's groups); ``cases mode [shared|single-user]
  [--four-eyes on|off]``: the store's mode and the four-eyes rule (:mod:`leukemia_core.cases.access`).
* ``cases sign --case ID``: sign a reviewed case in a single-user store. A shared store refuses it:
  the command line cannot authenticate the signer (sign in the app).

A store that cannot be opened and any refused input print one ``error: ...`` line (status 2).
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path

from ..cases import STATUSES


def _user(args) -> str:
    return args.user or os.environ.get("LEUKEMIA_USER") or getpass.getuser()


def _store(args):
    from ..cases.db import open_store

    return open_store(args.db, Path(args.data_home) if args.data_home else None)


def cmd_cases_import(args) -> int:
    """Load a predict CSV, a screen folder or images into a case; print what was stored."""
    from ..cases.importer import import_path
    from ..models import list_models

    models = list_models() if args.model == ["all"] else (args.model or [])
    path = Path(args.path)
    results = path.suffix.lower() == ".csv" or (path / "images").is_dir()  # predict CSV or screen output
    if models and not results:
        from ..onnx_calls import onnx_status
        from ..tfstartup import import_tensorflow

        if not all(onnx_status(m, args.weights_dir) == "ok" for m in models):
            import_tensorflow(args.verbose_log)  # quietly, as predict does, before Keras loads
    store = _store(args)
    try:
        rep = import_path(store, args.case, path, _user(args), models, Path(args.cells) if args.cells else None,
                          args.weights_dir, sample=_sample(args))
    finally:
        store.dispose()
    print(rep.line())
    for s in rep.skipped:
        print(f"  skipped: {s}")
    return 0 if rep.runs else 1


def cmd_cases_list(args) -> int:
    """Print the cases (optionally of one status or matching a text)."""
    from ..cases.repository import list_cases

    store = _store(args)
    try:
        rows = list_cases(store, args.status, args.text or "")
    finally:
        store.dispose()
    print(f"{'case':<24} {'status':<10} {'images':>6} {'reviewed':>8} {'sign-offs':>9}  updated (UTC)       by")
    for r in rows:
        print(f"{r['case_id']:<24} {r['status']:<10} {r['images']:>6} {r['reviewed']:>8} {r['signoffs']:>9}  "
              f"{r['updated_at']:%Y-%m-%d %H:%M:%S} {r['updated_by']}")
    print(f"{len(rows)} case(s)")
    return 0


def cmd_cases_export(args) -> int:
    """Write a case's cells, every case, or the audit log (``--audit``) as CSV to ``--out``."""
    from ..cases import export

    store = _store(args)
    try:
        if args.audit:
            text, what = export.audit_csv(store, args.case), f"audit log{' of ' + args.case if args.case else ''}"
        elif args.case:
            text, what = export.case_csv(store, args.case, args.model), f"cells of case {args.case}"
        else:
            text, what = export.all_cases_csv(store, args.status), "every case"
    finally:
        store.dispose()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"{what}: {text.count(chr(10)) - 1} row(s) -> {out}")
    return 0


def _sample(args) -> dict | None:
    if not (args.specimen or args.sample_date or args.patient_ref):
        return None
    import datetime as dt

    from ..cases.errors import CaseInputError

    try:
        date = dt.date.fromisoformat(args.sample_date) if args.sample_date else None
    except ValueError:
        raise CaseInputError(f"--sample-date {args.sample_date!r} is not a date (YYYY-MM-DD)") from None
    return {"specimen_id": args.specimen, "sample_date": date, "patient_ref": args.patient_ref}


def cmd_cases_users(args) -> int:
    """Grant roles, revoke them, or list the users table."""
    from ..cases import access

    store = _store(args)
    try:
        if args.action == "list":
            rows = access.list_users(store)
            for r in rows:
                print(f"{r['name']:<40} {r['roles'] or '-':<16} {'active' if r['active'] else 'inactive'}")
            print(f"{len(rows)} user(s); store mode {access.store_mode(store)}, four eyes "
                  f"{'on' if access.four_eyes(store) else 'off'}")
            return 0
        if not args.name:
            from ..cases.errors import CaseInputError

            raise CaseInputError(f"cases users {args.action}: name the user (the e-mail the identity provider gives)")
        revoke = args.action == "revoke"
        if not revoke and not args.role:
            from ..cases.errors import CaseInputError

            raise CaseInputError("cases users grant: name the role(s) with --role reviewer and/or --role signer "
                                 "(cases users revoke NAME takes every role away)")
        row = access.grant(store, args.name, [] if revoke else (args.role or []), _user(args), active=not revoke)
    finally:
        store.dispose()
    print(f"{row['name']}: roles {row['roles'] or '-'}, {'active' if row['active'] else 'inactive'}")
    return 0


def cmd_cases_mode(args) -> int:
    """Show or set the store's mode and the four-eyes rule."""
    from ..cases import access

    store = _store(args)
    try:
        if args.mode or args.four_eyes:
            access.set_mode(store, _user(args), args.mode, None if not args.four_eyes else args.four_eyes == "on")
        print(f"store mode {access.store_mode(store)}; four eyes {'on' if access.four_eyes(store) else 'off'}")
    finally:
        store.dispose()
    return 0


def cmd_cases_sign(args) -> int:
    """Sign a reviewed case (single-user stores only: a shared store needs a signed-in signer)."""
    from ..cases.repository import get_case
    from ..cases.review import sign_case

    store = _store(args)
    try:
        view = get_case(store, args.case)
        s = sign_case(store, args.case, _user(args), view.info.version, args.model, args.meaning)
    finally:
        store.dispose()
    print(f"case {args.case}: sign-off {s.number} by {s.signed_by} at {s.signed_at:%Y-%m-%d %H:%M:%S} UTC "
          f"({s.meaning}); summary sha256 {s.summary_sha256}")
    return 0


def cmd_cases_bench(args) -> int:
    """Measure opening a 50-image / 500-cell case and a review click; write the JSON to ``--out``."""
    from ..bench.cases import write_case_bench

    r = write_case_bench(Path(args.out), url=args.db, repeats=args.repeats)
    print(f"open first gallery page: median {r['open_first_page_s']['median'] * 1000:.0f} ms (target <= 1000 ms); "
          f"review click: median {r['review_click_s']['median'] * 1000:.1f} ms (target <= 100 ms) on {r['database']}; "
          f"-> {args.out}")
    return 0 if r["meets_targets"] else 1


def add_parsers(sub, weights_opt) -> None:
    """Add ``cases`` (``import``, ``list``, ``export``, ``users``, ``mode``, ``sign``, ``bench``) to ``sub``."""
    sp = sub.add_parser("cases", help="the case store: import results into a case, list cases, export them")
    cases = sp.add_subparsers(dest="cases_command", required=True)

    def store_opts(p):
        p.add_argument("--db", help="database URL (default $LEUKEMIA_DB_URL, else the SQLite file of the data folder)")
        p.add_argument("--data-home", help="the store's data folder (default $LEUKEMIA_DATA_HOME or case_store/)")

    p = cases.add_parser("import", help="load a predict CSV, a screen output folder or images into a case")
    p.add_argument("path", help="PRED.csv (predict --out), a screen --out folder, or an image file or folder")
    p.add_argument("--case", required=True, help="the case ID (created when absent)")
    p.add_argument("--cells", help="the predict --cells CSV that goes with PRED.csv")
    p.add_argument("--model", action="append", help="for images: model(s) to run, repeatable, or 'all'")
    p.add_argument("--user", help="who imports (default $LEUKEMIA_USER or the login name)")
    p.add_argument("--specimen", help="a new case: the specimen ID")
    p.add_argument("--sample-date", help="a new case: the sample date, YYYY-MM-DD")
    p.add_argument("--patient-ref", help="a new case: the lab's patient reference (a code, not a name)")
    store_opts(p)
    weights_opt(p)
    p.set_defaults(func=cmd_cases_import)

    p = cases.add_parser("users", help="roles the lab grants: grant NAME --role R, revoke NAME, list")
    p.add_argument("action", choices=("grant", "revoke", "list"))
    p.add_argument("name", nargs="?", help="the user, as the identity provider names them (e-mail)")
    p.add_argument("--role", action="append", choices=("reviewer", "signer"), help="repeatable")
    p.add_argument("--user", help="who makes the change (default $LEUKEMIA_USER or the login name)")
    store_opts(p)
    p.set_defaults(func=cmd_cases_users)

    p = cases.add_parser("mode", help="show or set the store's mode (single-user / shared) and four eyes")
    p.add_argument("mode", nargs="?", choices=("single-user", "shared"))
    p.add_argument("--four-eyes", choices=("on", "off"), help="refuse a sign-off by the case's only reviewer")
    p.add_argument("--user", help="who makes the change (default $LEUKEMIA_USER or the login name)")
    store_opts(p)
    p.set_defaults(func=cmd_cases_mode)

    p = cases.add_parser("sign", help="sign a reviewed case (single-user stores; a shared store refuses it)")
    p.add_argument("--case", required=True)
    p.add_argument("--model", help="the model whose reviewed cells are signed (default: the case's first)")
    p.add_argument("--meaning", help="what the signature means (default: approval, or approval as amended)")
    p.add_argument("--user", help="who signs (default $LEUKEMIA_USER or the login name)")
    store_opts(p)
    p.set_defaults(func=cmd_cases_sign)

    p = cases.add_parser("list", help="list the cases, newest change first")
    p.add_argument("--status", choices=STATUSES)
    p.add_argument("--text", help="part of the case ID or note")
    store_opts(p)
    p.set_defaults(func=cmd_cases_list)

    p = cases.add_parser("export", help="CSV of a case's cells, of every case, or of the audit log")
    p.add_argument("--out", required=True, help="FILE.csv")
    p.add_argument("--case", help="one case's cells (or, with --audit, its audit lines)")
    p.add_argument("--model", help="with --case: only this model's cells")
    p.add_argument("--status", choices=STATUSES, help="without --case: only cases of this status")
    p.add_argument("--audit", action="store_true", help="the audit log instead")
    store_opts(p)
    p.set_defaults(func=cmd_cases_export)

    p = cases.add_parser("bench", help="time opening a 50-image / 500-cell case and a review click (a fresh case)")
    p.add_argument("--out", required=True, help="e.g. model_weights/bench_cases.json")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--db", help="database URL to measure on (default: a temporary SQLite file)")
    p.set_defaults(func=cmd_cases_bench)
