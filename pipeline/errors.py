"""One exception hierarchy. Only the CLI turns these into exit codes.

``retryable`` says whether trying the same thing again later can succeed (a network or database hiccup)
or cannot (bad input, a configuration mistake, a refused issuance): the scheduled run's steps are retried
on :func:`is_retryable` exceptions only.
"""

from __future__ import annotations


class CertIntakeError(Exception):
    """Base class: something stopped a case or a command (not a finding)."""

    exit_code = 1
    retryable = False


class ConfigError(CertIntakeError):
    exit_code = 2


class StoreError(CertIntakeError):
    exit_code = 3


class InvalidTransition(StoreError):
    """A case was asked to move along an edge the lifecycle does not have."""


class CaError(CertIntakeError):
    exit_code = 4


class CaExists(CaError):
    pass


class CaMissing(CaError):
    pass


class IssuanceRefused(CertIntakeError):
    """Issuance was asked for a case that is not clean or approved."""

    exit_code = 5


class OcrUnavailable(CertIntakeError):
    exit_code = 6


class InputError(CertIntakeError):
    """The input cannot be read at all (a finding is recorded; the batch goes on)."""

    exit_code = 7


class CaseBusy(StoreError):
    """Another process is working on the case right now (it holds the case's lock)."""

    retryable = True


class ImapError(CertIntakeError):
    """The office mailbox cannot be reached or answered wrongly (nothing was lost; a later poll retries)."""

    retryable = True


class ImapLoginRefused(ImapError):
    """The IMAP server refused the credentials: trying again with the same ones cannot help."""

    retryable = False


class StepIncomplete(CertIntakeError):
    """A step of the scheduled run did part of its work (e.g. some pending cases raised); ``partial`` is what
    it did get done."""

    def __init__(self, message: str, partial: object = None, retryable: bool = False) -> None:
        super().__init__(message)
        self.partial = partial
        self.retryable = retryable


# OS errors that waiting cannot fix (the others — refused, reset, unreachable, timed out — it can)
_NOT_TRANSIENT_OS = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)


def is_retryable(exc: BaseException) -> bool:
    """True for what time can fix: a project error marked ``retryable``, a network or OS error (refused or
    reset connections, timeouts) and a database that is unreachable or locked; never for bad input."""
    flag = getattr(exc, "retryable", None)
    if isinstance(flag, bool):
        return flag
    if isinstance(exc, _NOT_TRANSIENT_OS):
        return False
    if isinstance(exc, OSError | TimeoutError):
        return True
    from sqlalchemy.exc import OperationalError  # the database went away or is locked

    return isinstance(exc, OperationalError)
