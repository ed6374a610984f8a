"""Exceptions a user can cause. Each carries a message written for a person, not a stack trace."""


class LeukemiaCoreError(Exception):
    """Base class of every error this package raises on purpose."""


class ImageReadError(LeukemiaCoreError):
    """An input could not be read as a microscope image (corrupt, truncated, empty, not an image,
    or too large to decode safely)."""


class DatasetLayoutError(LeukemiaCoreError):
    """A dataset folder does not have any layout this package understands."""


class LeakageError(LeukemiaCoreError):
    """A group (patient, or block of fields) appears on both sides of a split."""


class UnknownModelError(LeukemiaCoreError, KeyError):
    """A model name that is not in the registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class WeightsError(LeukemiaCoreError):
    """A weights file is missing, altered (checksum mismatch) or does not fit the model."""
