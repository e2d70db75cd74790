"""Errors that front doors show to people as they are: each names the problem and the fix."""


class LmhldError(ValueError):
    """Bad input or an impossible request; the message is meant for the user."""


class CancelledError(RuntimeError):
    """The user cancelled; nothing half-written is left behind."""
