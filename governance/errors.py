"""Errors raised by services; views and the API map them to HTTP statuses."""

from django.core.exceptions import PermissionDenied


class IllegalTransition(Exception):
    """A state change not allowed from the current state (HTTP 409)."""

    status_code = 409

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotAllowed(PermissionDenied):
    """The actor may not do this: role or separation of duties (HTTP 403)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message
