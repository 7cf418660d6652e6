"""The review workspace: people look at flagged cases, correct, verify (验核), approve (复核) or reject.

``roles`` says who may do what, ``auth`` checks passwords and sessions, ``actions`` changes cases (with
the two-person rule), ``web`` is the FastAPI app that ``cert-intake serve`` runs.
"""
