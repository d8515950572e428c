"""One option's declaration: its kind, default, help, choices and check, and its short form in
the README's table. The CLI's flags (``nst.options.flags``), ``Config``'s checks and the
README's table (``nst.options.readme``) are all read from it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nst.options.checks import Check, one_of
from nst.options.kinds import Kind


@dataclass(frozen=True)
class Option:
    name: str  # the Python name; the flag is --name with dashes (``flags`` names others)
    kind: Kind
    default: Any = None
    help: str = ""
    choices: tuple[str, ...] | None = None
    metavar: str | None = None
    check: Check | None = None  # the range beyond the kind and the choices
    # The help's "(default: ...)" where the default value does not say it; a function for a
    # default of this machine (a folder). None: the default value, if there is one.
    shown_default: str | Callable[[], str] | None = None
    # The command line's spelling, when not --name: ('-o', '--output'), or ('input',) for a
    # positional argument.
    flags: tuple[str, ...] = ()
    nargs: str | None = None
    required: bool = False
    repeated: bool = False  # each use adds a value: -s A -s B
    # The README's table: the option's text there ('': not in the table), its default there
    # when the default value does not say it, and the option whose row it shares.
    brief: str = ""
    brief_default: str | None = None
    row_of: str | None = None

    @property
    def flag(self) -> str:
        """The long flag, as messages name the option."""
        return next((f for f in self.flags if f.startswith("--")), f"--{self.name.replace('_', '-')}")

    @property
    def positional(self) -> bool:
        return bool(self.flags) and not self.flags[0].startswith("-")

    def check_range(self, value: Any) -> None:
        """Refuse ``value`` (of this option's kind) with one line unless it is one of the
        choices and within the check; None, an optional option's "derive it", passes."""
        if value is None:
            return
        if self.choices is not None:
            one_of(self.choices)(self.flag, value)
        if self.check is not None:
            self.check(self.flag, value)


def option(kind: Kind, default: Any, help: str, **declared: Any) -> Any:
    """A ``Config`` field declared as an option; its name is the field's (``config_options``)."""
    return field(default=default, metadata={"option": Option("", kind, default, help, **declared)})
