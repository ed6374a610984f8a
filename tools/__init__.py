"""Scripts around the app, run from the project root (``python -m tools.loadtest``,
``python tools/bench_app.py``). They live outside the ``leukemia_core`` package on purpose: the core
never starts the app."""
