"""The workarounds of pages/_streamlit_fixes.py: what each fixes, and on which versions it applies.

An upload that races with a rerun must not be lost: dropping files asks the server for upload URLs;
the browser uploads only when the reply arrives. A script run that starts before the reply is sent
clears the session's outgoing queue; Streamlit keeps only lifecycle messages there, so the app keeps
the upload replies too. Keras must keep its state when a script run ends, and ``ast.parse`` must be
safe from several threads.
"""

from __future__ import annotations

import logging
import sys

import pytest
from app_fixtures import APP, ROOT, app_env, app_weights, navigation_v2  # noqa: F401  (fixtures)
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.runtime.forward_msg_queue import ForwardMsgQueue


def _reply(request_id: str) -> ForwardMsg:
    msg = ForwardMsg()
    msg.file_urls_response.response_id = request_id
    return msg


def _delta() -> ForwardMsg:
    msg = ForwardMsg()
    msg.delta.new_element.markdown.body = "old result"
    msg.metadata.delta_path[:] = [0, 3]
    return msg


def test_classify_page_keeps_upload_replies_when_a_run_starts(app_env):  # noqa: F811 (fixture)
    from streamlit.testing.v1 import AppTest

    AppTest.from_file(str(APP), default_timeout=180).run()  # app.py applies the fix
    queue = ForwardMsgQueue()
    queue.enqueue(_delta())
    queue.enqueue(_reply("r1"))
    queue.clear(retain_lifecycle_msgs=True)  # what a starting script run does
    assert [m.WhichOneof("type") for m in queue._queue] == ["file_urls_response"]
    assert queue._queue[0].file_urls_response.response_id == "r1"
    queue.clear()  # a flush (or a plain clear) still empties the queue
    assert queue.is_empty()
    queue.enqueue(_reply("r2"))
    assert [m.file_urls_response.response_id for m in queue.flush()] == ["r2"]
    # applying it twice (every run of app.py does) wraps clear once
    AppTest.from_file(str(APP), default_timeout=180).run()
    queue.enqueue(_reply("r3"))
    queue.clear(retain_lifecycle_msgs=True)
    assert len(queue._queue) == 1


def test_keras_state_survives_the_end_of_a_script_run(app_env):  # noqa: F811 (fixture)
    # Streamlit calls keras.backend.clear_session() after every run, which resets the layer-naming
    # state of every thread: a model built meanwhile in another session gets duplicate layer names
    import keras
    from streamlit.runtime.scriptrunner import script_runner
    from streamlit.testing.v1 import AppTest

    AppTest.from_file(str(APP), default_timeout=180).run()  # app.py installs the fix
    from keras.src.utils.naming import uniquify

    uniquify("leukemia_probe")  # the next one is leukemia_probe_1, _2 ... unless the state is reset
    script_runner._clean_problem_modules()  # what ends every script run
    assert uniquify("leukemia_probe") != "leukemia_probe", "the layer-naming state was reset"
    assert keras.backend.backend() == "tensorflow"


@pytest.fixture
def fixes():
    sys.path.insert(0, str(ROOT))
    try:
        import pages._streamlit_fixes as fixes
    finally:
        sys.path.remove(str(ROOT))
    return fixes


def test_version_strings_become_release_numbers(fixes):
    assert fixes.release("1.67.0") == (1, 67, 0) and fixes.release("1.68.0rc1") == (1, 68, 0)
    assert fixes.release(" 2 ") == (2,) and fixes.release("dev") == ()


@pytest.mark.parametrize("fault", ["UPLOAD_REPLIES_DROPPED", "KERAS_STATE_RESET"])
def test_streamlit_workarounds_cover_the_pinned_release_only(fixes, fault):
    from importlib.metadata import version

    rng = getattr(fixes, fault)
    assert all(fixes.streamlit_needs(rng, v) for v in [(1, 67), (1, 67, 0), (1, 67, 9)])
    assert not any(fixes.streamlit_needs(rng, v) for v in [(1, 66, 1), (1, 68), (1, 68, 0), (2, 0, 0), ()])
    # the release requirements.txt pins (the one installed) is one that needs it
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    pinned = next(line for line in lines if line.startswith("streamlit=="))
    assert fixes.release(pinned.partition("==")[2]) == fixes.release(version("streamlit"))
    assert fixes.streamlit_needs(rng, fixes.release(version("streamlit")))


def _bare_clear(self, retain_lifecycle_msgs=False, fragment_ids_this_run=None):
    """Stands for Streamlit's own ForwardMsgQueue.clear."""


def test_upload_workaround_is_installed_on_the_releases_that_need_it_only(fixes, monkeypatch, caplog):
    monkeypatch.setattr(ForwardMsgQueue, "clear", _bare_clear)
    monkeypatch.setattr(fixes, "_SKIPPED", set())
    monkeypatch.setattr(fixes, "_streamlit_release", lambda: (1, 68, 0))
    with caplog.at_level(logging.WARNING, logger=fixes.__name__):
        fixes.keep_upload_replies()
        fixes.keep_upload_replies()
    assert ForwardMsgQueue.clear is _bare_clear  # skipped, with one warning for both calls
    assert [r.getMessage() for r in caplog.records if "keep_upload_replies" in r.getMessage()] == [
        "Streamlit 1.68.0: keep_upload_replies not applied (needed on 1.67 <= Streamlit < 1.68); check with "
        "tools/loadtest.py whether the fault is still there"]
    monkeypatch.setattr(fixes, "_streamlit_release", lambda: (1, 67, 0))
    fixes.keep_upload_replies()
    assert ForwardMsgQueue.clear.keeps_upload_replies


def test_keras_workaround_is_installed_on_the_releases_that_need_it_only(fixes, monkeypatch):
    from streamlit.runtime.scriptrunner import script_runner

    def bare_clean_up() -> None:
        """Stands for Streamlit's own clean-up after a run."""

    monkeypatch.setattr(script_runner, "_clean_problem_modules", bare_clean_up)
    monkeypatch.setattr(fixes, "_SKIPPED", set())
    for skipped in [(1, 66, 0), (1, 68, 0)]:
        monkeypatch.setattr(fixes, "_streamlit_release", lambda v=skipped: v)
        fixes.keep_keras_state()
        assert script_runner._clean_problem_modules is bare_clean_up
    monkeypatch.setattr(fixes, "_streamlit_release", lambda: (1, 67, 2))
    fixes.keep_keras_state()
    assert script_runner._clean_problem_modules.keeps_keras_state


def test_ast_workaround_is_installed_on_the_python_releases_without_the_fix_only(fixes, monkeypatch):
    import ast

    needs = fixes.python_needs_ast_lock
    assert all(needs(v) for v in [(3, 10, 14), (3, 11, 0), (3, 11, 7), (3, 12, 0), (3, 12, 1)])
    assert not any(needs(v) for v in [(3, 11, 8), (3, 11, 12), (3, 12, 2), (3, 13, 0), (3, 14, 1)])

    def bare_parse(*args, **kwargs):
        """Stands for CPython's own ast.parse."""
        return "parsed"

    monkeypatch.setattr(ast, "parse", bare_parse)
    for fixed in [(3, 11, 8), (3, 12, 2), (3, 13, 1)]:
        monkeypatch.setattr(fixes, "_python_release", lambda v=fixed: v)
        fixes.serialize_ast_parse()
        assert ast.parse is bare_parse
    monkeypatch.setattr(fixes, "_python_release", lambda: (3, 12, 1))
    fixes.serialize_ast_parse()
    assert ast.parse.serialized and ast.parse("x") == "parsed" and ast.parse.__doc__ == bare_parse.__doc__


def test_ast_parse_is_one_thread_at_a_time_where_python_needs_it(fixes):
    import ast
    import threading

    fixes.serialize_ast_parse()
    fixes.serialize_ast_parse()  # idempotent: wrapped once
    if not fixes.python_needs_ast_lock(tuple(sys.version_info[:3])):
        assert not getattr(ast.parse, "serialized", False)
        return
    assert ast.parse.serialized and ast.parse("x = 1").body[0].targets[0].id == "x"
    source = "y = " + "(" * 40 + "1" + ")" * 40 + "\n" + "def f(a):\n    return [b for b in a if b]\n" * 50
    errors = []

    def parse_many():
        try:
            for _ in range(200):
                ast.parse(source)
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(repr(exc))

    threads = [threading.Thread(target=parse_many) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
