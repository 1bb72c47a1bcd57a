"""Exceptions a user can cause; each message says what to do next."""


class VAEError(Exception):
    """Base class for every error the app shows as a plain message."""


class DataError(VAEError):
    """A dataset cannot be loaded: missing files, offline, or a bad upload."""


class CheckpointError(VAEError):
    """A checkpoint cannot be saved or loaded safely."""


class TrainingError(VAEError):
    """Training settings are invalid."""
