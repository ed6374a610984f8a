"""An upload that races with a rerun must not be lost (found by tools/loadtest.py).

Dropping files asks the server for upload URLs; the browser uploads only when the reply arrives. A
script run that starts before the reply is sent clears the session's outgoing queue; Streamlit keeps
only lifecycle messages there, so the app keeps the upload replies too (pages/_streamlit_fixes.py).
"""

from __future__ import annotations

from app_fixtures import APP, app_env, app_weights, navigation_v2  # noqa: F401  (fixtures)
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
    # state of every thread: a model built meanwhile in another session got duplicate layer names
    import keras
    from streamlit.runtime.scriptrunner import script_runner
    from streamlit.testing.v1 import AppTest

    AppTest.from_file(str(APP), default_timeout=180).run()  # app.py installs the fix
    from keras.src.utils.naming import uniquify

    uniquify("leukemia_probe")  # the next one is leukemia_probe_1, _2 ... unless the state is reset
    script_runner._clean_problem_modules()  # what ends every script run
    assert uniquify("leukemia_probe") != "leukemia_probe", "the layer-naming state was reset"
    assert keras.backend.backend() == "tensorflow"


def test_ast_parse_is_one_thread_at_a_time_on_python_3_11():
    import ast
    import sys
    import threading

    from pages._streamlit_fixes import serialize_ast_parse

    serialize_ast_parse()
    serialize_ast_parse()  # idempotent: wrapped once
    if sys.version_info >= (3, 12):
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
