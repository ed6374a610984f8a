"""leukemia_core: everything behind the dashboard that is not UI.

data (``images``, ``datasets``, ``splits``, ``preprocess``, ``augment``, ``pipeline``) ->
``models`` -> ``train`` / ``evaluate`` / ``baseline`` -> ``inference`` / ``explain`` -> the app.

Importing the package loads nothing heavy: TensorFlow is imported by the modules that need it.
"""

__version__ = "0.1.0"
