"""The one error type the converter reports to the user as a plain message."""


class ConvertError(Exception):
    """A problem with the inputs the user must fix; ``ser-convert`` prints it without a traceback."""
