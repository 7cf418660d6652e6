"""One exception hierarchy. Only the CLI turns these into exit codes."""

from __future__ import annotations


class CertIntakeError(Exception):
    """Base class: something stopped a case or a command (not a finding)."""

    exit_code = 1


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
