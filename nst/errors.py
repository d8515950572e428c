"""The one exception type a user sees: a message that says what went wrong and how to fix it,
and the exit codes of nst's commands.

The CLI prints it as a single line on stderr and exits with ``EXIT_USAGE``; the library raises
it. Anything else escaping is a bug in nst, not a user mistake.
"""

EXIT_SOME_FAILED = 1  # nst batch: some images failed, each listed and in the manifest
EXIT_USAGE = 2  # bad input, or a run that diverged: one line on stderr
EXIT_INTERRUPTED = 130  # Ctrl-C: the current image is written, as a shell's 128 + SIGINT


class NstError(Exception):
    """A problem with the user's input or environment, explained in one line."""


class NonFiniteLoss(NstError):
    """The optimisation diverged: the loss became NaN or infinite."""
