"""Workarounds for two behaviours of Streamlit 1.67 (pinned in requirements.txt) that break a
server shared by several sessions, both found by ``tools/loadtest.py`` (8 browser sessions), and
for one CPython 3.11 fault that a page can hit while the server warms up a model.

:func:`apply` installs them, once per server process; ``app.py`` calls it on every run (a no-op
after the first) and ``serve.py`` at server start.
"""

from __future__ import annotations


def keep_upload_replies() -> None:
    """Stop Streamlit from losing an upload that races with a rerun.

    Dropping files sends the server a request for upload URLs; the browser uploads only when the
    reply comes. When a script run starts, Streamlit clears the session's outgoing queue, keeping
    only lifecycle messages: a reply still queued then is lost, the browser waits for it forever,
    and the upload shows no file and no result. It happens when files are dropped just after
    another change (a removed file, the model, the threshold) asked for a rerun, more often under
    load. This keeps those replies across the clear.
    """
    from streamlit.runtime.forward_msg_queue import ForwardMsgQueue

    clear = ForwardMsgQueue.clear
    if getattr(clear, "keeps_upload_replies", False):
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

    After each run, Streamlit calls ``keras.backend.clear_session()`` in that session's thread. In
    Keras 3 that replaces the layer-naming state of every thread, resets TensorFlow's default graph
    and clears its kernel cache, for all sessions. A model being built in another session at that
    moment then gets the same auto-generated layer name twice ('The name "conv2d" is used 4 times in
    the model': InceptionV3 failed this way under the 8-session load test), and every session's
    next calls start from an empty kernel cache. The models here are built once and shared by all
    sessions, so nothing is to be cleared between runs: this turns that clean-up off.
    """
    from streamlit.runtime.scriptrunner import script_runner

    if getattr(script_runner._clean_problem_modules, "keeps_keras_state", False):
        return

    def keep_state() -> None:
        """Streamlit's clean-up after a run, without resetting Keras (see :func:`keep_keras_state`)."""

    keep_state.keeps_keras_state = True
    script_runner._clean_problem_modules = keep_state


def serialize_ast_parse() -> None:
    """Let one thread at a time build a Python AST, on CPython before 3.12.

    CPython 3.11 keeps the AST constructor's recursion depth in interpreter-wide state, so two
    threads in ``ast.parse`` at once can fail with "SystemError: AST constructor recursion depth
    mismatch" (python/cpython gh-106905). Streamlit parses every page script (its "magic"), and a
    server's warm-up thread may trace TensorFlow functions whose conversion parses source too: the
    page then fails now and then. ``ast.parse`` is wrapped in one process-wide lock.
    """
    import ast
    import sys
    import threading

    if sys.version_info >= (3, 12) or getattr(ast.parse, "serialized", False):
        return
    lock = threading.RLock()
    parse = ast.parse

    def serialized_parse(*args, **kwargs):
        with lock:
            return parse(*args, **kwargs)

    serialized_parse.serialized = True
    serialized_parse.__doc__ = parse.__doc__
    ast.parse = serialized_parse


def apply() -> None:
    """Install the workarounds (idempotent)."""
    keep_upload_replies()
    keep_keras_state()
    serialize_ast_parse()
