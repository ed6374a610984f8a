"""tfstartup: the Keras backend found without importing Keras, quiet TensorFlow logging, the chatter filter."""

import json
import logging
import os
import subprocess
import sys

import pytest

from leukemia_core.tfstartup import TF_CHATTER, keras_backend, quiet_tensorflow


@pytest.fixture
def no_keras(monkeypatch):
    """As if Keras were not imported yet (it may be, by other tests in this process)."""
    monkeypatch.delitem(sys.modules, "keras", raising=False)
    monkeypatch.delenv("KERAS_BACKEND", raising=False)


def test_backend_from_the_environment_then_keras_json_then_tensorflow(no_keras, monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert keras_backend() == "tensorflow"  # no keras.json
    (tmp_path / "keras.json").write_text(json.dumps({"backend": "jax"}))
    assert keras_backend() == "jax"
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    assert keras_backend() == "torch"  # the variable wins over the file
    monkeypatch.delenv("KERAS_BACKEND")
    (tmp_path / "keras.json").write_text("{not json")
    assert keras_backend() == "tensorflow"
    (tmp_path / "keras.json").write_text(json.dumps({"floatx": "float32"}))
    assert keras_backend() == "tensorflow"


def test_imported_keras_decides(monkeypatch):
    class FakeKeras:
        class config:
            @staticmethod
            def backend():
                return "numpy"

    monkeypatch.setitem(sys.modules, "keras", FakeKeras)
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert keras_backend() == "numpy"


def test_quiet_tensorflow_sets_log_levels_without_overriding(monkeypatch):
    absl = logging.getLogger("absl")
    monkeypatch.setattr(absl, "level", absl.level)
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    quiet_tensorflow()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "2" and absl.level == logging.ERROR
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL")
    quiet_tensorflow(verbose=True)
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0" and absl.level == logging.INFO
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")  # a user's own setting is kept
    quiet_tensorflow()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3"


@pytest.mark.parametrize("line", [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1732600000.123456   12345 cpu_feature_guard.cc:210] This TensorFlow binary is optimized",
    "W0000 00:00:1732600000.123456   12345 port.cc:153] oneDNN custom operations are on.",
    "E0000 00:00:1732600000.1 1 cuda_dnn.cc:8310] Unable to register cuDNN factory",
    "2026-11-26 10:00:00.123456: I tensorflow/core/util/port.cc:113] oneDNN custom operations are on.",
    "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with flags.",
])
def test_chatter_lines_are_recognised(line):
    assert TF_CHATTER.match(line)


@pytest.mark.parametrize("line", [
    "Traceback (most recent call last):",
    "ValueError: bad input",
    "UserWarning: something a user should see",
    "E0000 00:00:1732600000.1 1 something.cc:1] Out of memory",
])
def test_real_messages_are_kept(line):
    assert not TF_CHATTER.match(line)


def test_import_tensorflow_does_nothing_on_another_backend():
    code = ("import sys; from leukemia_core.tfstartup import import_tensorflow; import_tensorflow(); "
            "print('tensorflow' in sys.modules)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "KERAS_BACKEND": "jax"})
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "False"


def test_tensorflow_import_and_a_model_build_in_two_threads_at_once():
    """The app's warm-up thread imports TensorFlow while a page builds a model: without the
    import lock one of them gets a half-initialised module (_DeadlockError / AttributeError)."""

    code = (
        "import threading\n"
        "from leukemia_core.tfstartup import import_tensorflow\n"
        "from leukemia_core.models import create_model\n"
        "errs = []\n"
        "def run(f):\n"
        "    try:\n"
        "        f()\n"
        "    except Exception as e:\n"
        "        errs.append(repr(e))\n"
        "ts = [threading.Thread(target=run, args=(import_tensorflow,)),\n"
        "      threading.Thread(target=run, args=(lambda: create_model('efficientnet_b0', 64),))]\n"
        "[t.start() for t in ts]\n"
        "[t.join() for t in ts]\n"
        "print('errors:', errs)\n")
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    out = subprocess.run([sys.executable, "-c", code], cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))), env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "errors: []"
