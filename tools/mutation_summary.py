"""Sum up mutmut's results (mutants/**/*.meta) into mutation/summary.json and mutation/survivors.txt.

Used by tools/mutation.sh; counts only the mutants whose names match the patterns given.
"""

from __future__ import annotations

import argparse
import datetime as dt
import fnmatch
import json
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no_tests", 33: "no_tests", 34: "skipped",
          35: "suspicious", 36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout", 255: "timeout",
          37: "caught_by_type_check", 2: "interrupted", -11: "segfault", -9: "segfault", None: "not_checked"}


def module_of(mutant: str) -> str:
    """``leukemia_core.cells.finder.x_find_cells__mutmut_3`` -> ``leukemia_core/cells/finder.py``."""
    parts = mutant.split(".")
    for i, p in enumerate(parts):
        if p.startswith("x"):  # mutmut's mangled function (x_f) or method (xǁClassǁm)
            return "/".join(parts[:i]) + ".py"
    return mutant


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, required=True, help="wall time of the mutmut run")
    ap.add_argument("--full", type=int, default=1, help="1: a full run (its time is the summary's seconds)")
    ap.add_argument("patterns", nargs="+", help="fnmatch patterns of the mutants counted")
    args = ap.parse_args()
    results: dict[str, str] = {}
    for meta in sorted((ROOT / "mutants").rglob("*.py.meta")):
        for key, code in json.loads(meta.read_text())["exit_code_by_key"].items():
            if any(fnmatch.fnmatch(key, p) for p in args.patterns):
                results[key] = STATUS.get(code, "suspicious")
    per_module: dict[str, Counter] = {}
    for key, status in results.items():
        per_module.setdefault(module_of(key), Counter())[status] += 1

    def figures(c: Counter) -> dict:
        n = sum(c.values())
        out = {"mutants": n, "killed": c["killed"], "survived": c["survived"], "timeout": c["timeout"],
               "suspicious": c["suspicious"], "no_tests": c["no_tests"], "not_checked": c["not_checked"]}
        out.update({k: v for k, v in c.items() if k not in out})
        out["survived_share"] = round(c["survived"] / n, 4) if n else None
        return out

    total = sum(per_module.values(), Counter())
    out = ROOT / "mutation"
    seconds = round(args.seconds)
    if not args.full:  # a partial rerun: keep the last full run's time, note this one's
        try:
            seconds = json.loads((out / "summary.json").read_text())["seconds"]
        except (OSError, ValueError, KeyError):
            pass
    summary = {"tool": "mutmut 3 (setup.cfg [mutmut]); bash tools/mutation.sh",
               "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
               "seconds": seconds, "last_run": {"full": bool(args.full), "seconds": round(args.seconds)},
               **figures(total),
               "per_module": {m: figures(c) for m, c in sorted(per_module.items())}}
    out.mkdir(exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    survivors = sorted(k for k, s in results.items() if s in ("survived", "no_tests", "suspicious", "not_checked"))
    (out / "survivors.txt").write_text("".join(f"{k}\t{results[k]}\n" for k in survivors))
    print(f"{summary['mutants']} mutants: {summary['killed']} killed, {summary['survived']} survived, "
          f"{summary['timeout']} timeout, {summary['suspicious']} suspicious, {summary['no_tests']} without tests, "
          f"{summary['not_checked']} not checked; {summary['seconds']} s")
    for m, f in summary["per_module"].items():
        print(f"  {m}: {f['mutants']} mutants, {f['killed']} killed, {f['survived']} survived")
    print("mutation/summary.json, mutation/survivors.txt")


if __name__ == "__main__":
    main()
