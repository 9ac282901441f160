"""Exceptions that carry a message meant for the user.

Anything raised as ``UserFacingError`` (or a subclass) is shown as-is by the
command line (one line on stderr, exit code 2) and by the GUI (a message box),
so its text must name the file and the cause and say what to do.
"""


class UserFacingError(Exception):
    """An error caused by input (a file, a device, a setting), with a clear message."""


class InputError(UserFacingError):
    """A file or device could not be read: missing, unreadable, truncated, unknown format."""


class NoFaceError(UserFacingError):
    """No face was found where one is needed."""
