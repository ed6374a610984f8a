"""Case review store: cases, their images, each model run on them, the reviewer's decision on
every cell, sign-offs and an append-only audit log, in a real database (SQLite by default,
PostgreSQL by ``LEUKEMIA_DB_URL``).

Modules: :mod:`.db` (opening the store, migrations), :mod:`.models` (the tables),
:mod:`.repository` (cases, images, runs, reading a case), :mod:`.review` (decisions, sign-off,
amendments, optimistic locking), :mod:`.importer` (results from the app, ``predict`` CSVs and
folders), :mod:`.export` (CSV exports and the audit log), :mod:`.report` (the reviewed case report).
Nothing here imports Streamlit.
"""

#: Case statuses, in workflow order (here, not in :mod:`.models`, so that the command line can offer
#: them without importing SQLAlchemy: the GPU machine that trains has none).
STATUSES = ("new", "in review", "signed")
