"""The one exception type a user sees: a message that says what went wrong and how to fix it.

The CLI prints it as a single line on stderr and exits with code 2; the library raises it.
Anything else escaping is a bug in nst, not a user mistake.
"""


class NstError(Exception):
    """A problem with the user's input or environment, explained in one line."""


class NonFiniteLoss(NstError):
    """The optimisation diverged: the loss became NaN or infinite."""
