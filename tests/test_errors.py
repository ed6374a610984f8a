"""errors: one base class for every error raised on purpose; messages for people, unquoted."""

import pytest

from leukemia_core.errors import (
    DatasetLayoutError,
    ImageReadError,
    LeakageError,
    LeukemiaCoreError,
    UnknownModelError,
    WeightsError,
)

SUBCLASSES = (ImageReadError, DatasetLayoutError, LeakageError, UnknownModelError, WeightsError)


@pytest.mark.parametrize("cls", SUBCLASSES)
def test_every_error_is_a_leukemia_core_error_with_its_message(cls):
    assert issubclass(cls, LeukemiaCoreError) and issubclass(LeukemiaCoreError, Exception)
    with pytest.raises(LeukemiaCoreError, match="^what went wrong, and what to do$"):
        raise cls("what went wrong, and what to do")


def test_unknown_model_error_is_a_key_error_whose_message_is_not_quoted():
    exc = UnknownModelError("unknown model 'x'; choose one of a, b")
    assert isinstance(exc, KeyError)
    assert str(exc) == "unknown model 'x'; choose one of a, b"  # KeyError alone would add quotes
    assert str(KeyError("m")) == "'m'"
    assert str(UnknownModelError()) == ""
    with pytest.raises(KeyError):
        raise exc


def test_errors_are_distinct():
    assert not issubclass(ImageReadError, WeightsError) and not issubclass(LeakageError, DatasetLayoutError)
    assert not issubclass(LeukemiaCoreError, KeyError)
