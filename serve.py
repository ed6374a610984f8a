"""The dashboard's server entry point: ``./run app`` runs ``streamlit run serve.py``.

It serves ``app.py`` unchanged (``st.App``, Streamlit's entry point with start-up hooks) and, when
the server starts, begins what the first prediction needs in a background thread: importing
TensorFlow, loading the default model and compiling its Grad-CAM pass
(:func:`pages._loaders.server_start`). ``streamlit run app.py`` still works; it starts the same
loading when the first visitor's page runs instead.
"""

from contextlib import asynccontextmanager

import streamlit as st


@asynccontextmanager
async def lifespan(_app):
    import threading

    from pages._streamlit_fixes import apply

    apply()  # before any session runs (see pages/_streamlit_fixes.py)
    threading.Thread(target=_start, name="server-start", daemon=True).start()  # the server is up meanwhile
    yield


def _start() -> None:
    from pages._loaders import server_start

    server_start()


app = st.App("app.py", lifespan=lifespan)
