"""``screen``: archive-scale reading on Ray Data into Parquet (:mod:`.pipeline`; its stages in
:mod:`.stages`, its tables in :mod:`.tables`, per-folder summaries in :mod:`.summary`)."""
