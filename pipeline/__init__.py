"""cert-intake: the intake desk of an SM2 certificate registration office."""

__version__ = "0.1.0"
