"""Workarounds for two Streamlit behaviours that break a server shared by several sessions, for its
legacy ``pages/`` mode taking a bookmarked URL on a fresh server, and for one CPython fault that a
page can hit while the server warms up a model.

Each replaces a private internal, so each applies only on the versions known to need it: the
Streamlit releases on which ``tools/loadtest.py`` (8 browser sessions) shows the fault (1.67, the one
``requirements.txt`` pins), and the CPython releases without the upstream fix. On another Streamlit
release a workaround is skipped with a logged warning: run the load test there and widen its range
if the fault is still there.

:func:`apply` installs them, once per server process; ``app.py`` calls it on every run (a no-op
after the first) and ``serve.py`` at server start.
"""

from __future__ import annotations

import logging
import re
import sys

_log = logging.getLogger(__name__)

#: ``(first, first not)`` Streamlit releases on which Streamlit drops upload-URL replies (:func:`keep_upload_replies`).
UPLOAD_REPLIES_DROPPED = ((1, 67), (1, 68))
#: ``(first, first not)`` Streamlit releases that reset Keras after every script run (:func:`keep_keras_state`).
KERAS_STATE_RESET = ((1, 67), (1, 68))


def release(text: str) -> tuple[int, ...]:
    """The release numbers a version string starts with: ``"1.67.0"`` -> ``(1, 67, 0)``,
    ``"1.68.0rc1"`` -> ``(1, 68, 0)``; ``()`` when it starts with no number."""
    found = re.match(r"\d+(?:\.\d+)*", text.strip())
    return tuple(int(p) for p in found.group().split(".")) if found else ()


def _streamlit_release() -> tuple[int, ...]:
    from importlib.metadata import version

    return release(version("streamlit"))


def _python_release() -> tuple[int, ...]:
    return tuple(sys.version_info[:3])


def streamlit_needs(fault: tuple[tuple[int, ...], tuple[int, ...]], installed: tuple[int, ...]) -> bool:
    """Whether Streamlit ``installed`` (release numbers) lies in ``fault``'s ``(first, first not)`` range."""
    first, first_not = fault
    return first <= installed < first_not


#: Workarounds skipped on this Streamlit, each warned about once (apply() runs on every script run).
_SKIPPED: set[str] = set()


def _streamlit_has(fault, what: str) -> bool:
    """:func:`streamlit_needs` for the installed Streamlit; a skipped ``what`` is logged once."""
    installed = _streamlit_release()
    if streamlit_needs(fault, installed):
        return True
    if what not in _SKIPPED:
        _SKIPPED.add(what)
        _log.warning("Streamlit %s: %s not applied (needed on %s <= Streamlit < %s); check with "
                     "tools/loadtest.py whether the fault is still there", ".".join(map(str, installed)) or "unknown",
                     what, ".".join(map(str, fault[0])), ".".join(map(str, fault[1])))
    return False


def python_needs_ast_lock(installed: tuple[int, ...]) -> bool:
    """Whether CPython ``installed`` (release numbers) lacks the fix of gh-106905: releases before
    3.11.8, and 3.12 before 3.12.2 (the fix went into those releases and into 3.13)."""
    return installed < (3, 11, 8) or (3, 12) <= installed < (3, 12, 2)


def keep_upload_replies() -> None:
    """Stop Streamlit from losing an upload that races with a rerun.

    Dropping files sends the server a request for upload URLs; the browser uploads only when the
    reply comes. When a script run starts, Streamlit clears the session's outgoing queue
    (``ForwardMsgQueue.clear(retain_lifecycle_msgs=True)`` in ``streamlit/runtime/forward_msg_queue.py``),
    keeping only lifecycle messages: a reply still queued then is lost, the browser waits for it
    forever, and the upload shows no file and no result. It happens when files are dropped just after
    another change (a removed file, the model, the threshold) asked for a rerun, more often under
    load. This keeps those replies across the clear.

    Upstream: Streamlit's own queue clearing; no Streamlit issue about it was found. Applied on the
    releases of :data:`UPLOAD_REPLIES_DROPPED`.
    """
    from streamlit.runtime.forward_msg_queue import ForwardMsgQueue

    clear = ForwardMsgQueue.clear
    if getattr(clear, "keeps_upload_replies", False) \
            or not _streamlit_has(UPLOAD_REPLIES_DROPPED, "keep_upload_replies"):
        return

    def clear_keeping_replies(self, retain_lifecycle_msgs: bool = False, fragment_ids_this_run=None) -> None:
        replies = [m for m in self._queue if m.WhichOneof("type") == "file_urls_response"] \
            if retain_lifecycle_msgs else []
        clear(self, retain_lifecycle_msgs, fragment_ids_this_run)
        self._queue.extend(m for m in replies if all(m is not k for k in self._queue))

    clear_keeping_replies.keeps_upload_replies = True
    ForwardMsgQueue.clear = clear_keeping_replies


def keep_keras_state() -> None:
    """Stop Streamlit from resetting Keras after every script run.

    After each run, Streamlit calls ``keras.backend.clear_session()`` in that session's thread
    (``_clean_problem_modules`` in ``streamlit/runtime/scriptrunner/script_runner.py``). In Keras 3
    that replaces the layer-naming state of every thread, resets TensorFlow's default graph and
    clears its kernel cache, for all sessions. A model being built in another session at that moment
    then gets the same auto-generated layer name twice ('The name "conv2d" is used 4 times in the
    model'), and every session's next calls start from an empty kernel cache. The models here are
    built once and shared by all sessions, so nothing is to be cleared between runs: this turns that
    clean-up off (its other part, closing matplotlib's pyplot figures, is moot: no page uses pyplot).

    Upstream: Streamlit's own clean-up; no Streamlit issue about it was found. Applied on the releases
    of :data:`KERAS_STATE_RESET`.
    """
    from streamlit.runtime.scriptrunner import script_runner

    if getattr(script_runner._clean_problem_modules, "keeps_keras_state", False) \
            or not _streamlit_has(KERAS_STATE_RESET, "keep_keras_state"):
        return

    def keep_state() -> None:
        """Streamlit's clean-up after a run, without resetting Keras (see :func:`keep_keras_state`)."""

    keep_state.keeps_keras_state = True
    script_runner._clean_problem_modules = keep_state


def serialize_ast_parse() -> None:
    """Let one thread at a time build a Python AST, on the CPython releases that need it.

    CPython keeps the AST constructor's recursion depth in interpreter-wide state, so two threads in
    ``ast.parse`` at once can fail with "SystemError: AST constructor recursion depth mismatch".
    Streamlit parses every page script (its "magic"), and a server's warm-up thread may trace
    TensorFlow functions whose conversion parses source too: the page then fails now and then.
    ``ast.parse`` is wrapped in one process-wide lock.

    Upstream: python/cpython gh-106905, fixed in 3.11.8 and 3.12.2 (:func:`python_needs_ast_lock`).
    """
    import ast
    import threading

    if getattr(ast.parse, "serialized", False) or not python_needs_ast_lock(_python_release()):
        return
    lock = threading.RLock()
    parse = ast.parse

    def serialized_parse(*args, **kwargs):
        with lock:
            return parse(*args, **kwargs)

    serialized_parse.serialized = True
    serialized_parse.__doc__ = parse.__doc__
    ast.parse = serialized_parse


def navigation_only() -> None:
    """Every URL through ``app.py``'s ``st.navigation``, from the server's first request on.

    Streamlit treats a ``pages/`` folder beside the entry script as pages of their own (the legacy
    multipage mode) until ``st.navigation`` has run once in the server process. A bookmarked
    ``/validation`` opened first on a fresh server therefore ran ``pages/validation.py`` alone: no
    title, notice or sidebar controls, and the folder's raw file list as navigation. The app never
    uses that mode, so the server marks the folder as not a pages directory when it starts
    (``serve.py``); this is what Streamlit itself sets after the first ``st.navigation`` run.
    """
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # moved in another release: the bookmark test in tests/test_browser.py says so
        _log.warning("streamlit.runtime.pages_manager not found: a bookmarked page may open without the app frame")
        return
    PagesManager.uses_pages_directory = False


def apply() -> None:
    """Install the workarounds (idempotent)."""
    navigation_only()
    keep_upload_replies()
    keep_keras_state()
    serialize_ast_parse()
