"""TensorFlow start-up for the command line: which Keras backend is in use (without importing
Keras), and importing TensorFlow without its start-up chatter on stderr unless asked.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import tempfile
import threading

#: stderr lines TensorFlow writes while it is imported that say nothing to a user: absl's note
#: on early messages, C++ info/warning lines (oneDNN, CPU features) and CUDA factory registration.
TF_CHATTER = re.compile(
    r"WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|[IW]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ \S+:\d+\]"
    r"|E\d{4} .*(Unable to register|cuInit|cuda drivers)"
    r"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IW] "
    r"|To enable the following instructions: .* rebuild TensorFlow")

#: Held while TensorFlow and Keras are imported. Two threads importing them at once (the app's
#: warm-up thread and a page building a model) can see half-initialised TensorFlow modules, after
#: which every later import fails ("Registering two gradient with name ..."); Python's per-module
#: import locks do not cover TensorFlow's lazily loaded submodules.
IMPORT_LOCK = threading.RLock()

#: commands that load TensorFlow (``predict`` does so itself, after checking its paths)


def quiet_tensorflow(verbose: bool = False) -> None:
    """Set TensorFlow's logging before it loads: quiet by default, everything with ``verbose``."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if verbose else "2")
    logging.getLogger("absl").setLevel(logging.INFO if verbose else logging.ERROR)


def keras_backend() -> str:
    """The Keras backend in use, or the one Keras will pick, found without importing Keras.

    Importing Keras on the TensorFlow backend loads TensorFlow, whose start-up lines
    :func:`_import_tensorflow` hides, so Keras' own rule is followed here instead:
    ``$KERAS_BACKEND`` if set, else ``"backend"`` in ``keras.json`` (in ``$KERAS_HOME``, or
    ``~/.keras``, or ``/tmp/.keras`` when home is not writable), else ``tensorflow``.
    """
    keras = sys.modules.get("keras")
    if keras is not None and hasattr(keras, "config"):
        return keras.config.backend()
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    home = os.environ.get("KERAS_HOME") or os.path.join(
        os.path.expanduser("~") if os.access(os.path.expanduser("~"), os.W_OK) else "/tmp", ".keras")
    try:
        with open(os.path.join(os.path.expanduser(home), "keras.json")) as f:
            return str(json.load(f).get("backend") or "tensorflow")
    except (OSError, ValueError, AttributeError):
        return "tensorflow"


def import_tensorflow(verbose: bool = False) -> None:
    """Import TensorFlow and Keras (under :data:`IMPORT_LOCK`); unless ``verbose``, drop the lines
    TensorFlow prints on stderr while loading.

    Those come from C++ before its logging is set up, so ``TF_CPP_MIN_LOG_LEVEL`` does not reach
    them: stderr (file descriptor 2) is sent to a temporary file during the import and written
    back without them. Anything else (a real warning or error) is kept.

    Does nothing on another Keras backend (``KERAS_BACKEND=jax``): ``train`` runs there on a
    machine without TensorFlow (tests/test_training_train.py, the JAX test), and Keras then never loads it.
    """
    if keras_backend() != "tensorflow":
        return
    with IMPORT_LOCK:
        _import_quietly(verbose)


def _import_quietly(verbose: bool) -> None:
    if verbose or "keras" in sys.modules:
        import keras  # noqa: F401
        import tensorflow  # noqa: F401
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            import tensorflow  # noqa: F401

            import keras  # noqa: F401
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            kept = [line for line in tmp.read().decode(errors="replace").splitlines(keepends=True)
                    if not TF_CHATTER.match(line)]
            if kept:
                os.write(2, "".join(kept).encode())
