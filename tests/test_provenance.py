"""provenance: the checkout's commit, or "unknown" outside git."""

import subprocess

from leukemia_core import provenance
from leukemia_core.provenance import git_commit


def test_git_commit_is_the_checkouts_head():
    sha = git_commit()
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                          cwd=provenance.__file__.rsplit("/", 2)[0]).stdout.strip()
    assert sha == (head or "unknown")
    assert sha == "unknown" or (len(sha) == 40 and int(sha, 16) >= 0)


def test_git_commit_outside_git_is_unknown(monkeypatch):
    def no_git(*a, **k):
        raise FileNotFoundError("git")

    monkeypatch.setattr(subprocess, "run", no_git)
    assert git_commit() == "unknown"
