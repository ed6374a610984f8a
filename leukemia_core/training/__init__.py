"""training"""

#: The seed of ``train`` runs unless ``--seed`` says otherwise; a report names any other one.
DEFAULT_SEED = 42
