"""The one base class of errors that mean "the input or the run is wrong, here is why".

The CLI shows these as a message and a non-zero exit, never as a traceback;
anything else is a bug and keeps its traceback.
"""


class UserError(ValueError):
    """Bad input or a failed run, described well enough to act on."""
