"""The README's table of the options of ``nst stylize``, made from their declarations: each
option's short form (``Option.brief``), its default, and the rows that options share."""

from __future__ import annotations

from nst.errors import NstError
from nst.options.arguments import STYLIZE
from nst.options.config import config_options
from nst.options.option import Option

HEADER = ("| option | default | what it does |", "| --- | --- | --- |")
REGENERATE = "python -m nst.options --readme"


def default_cell(option: Option) -> str:
    if option.brief_default is not None:
        return option.brief_default
    value = option.default
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return f"`{value}`"
    if isinstance(value, tuple) and value:
        shown = value if len(value) <= 3 else (value[0], "…", value[-1])
        return f"`{','.join(str(v) for v in shown)}`"
    raise ValueError(f"option {option.name}: give brief_default, its default {value!r} says nothing")


def table() -> str:
    """The table's lines: one row per option with a ``brief``, and the options that name it
    in ``row_of`` in the same row."""
    options = [o for o in (*STYLIZE, *config_options()) if o.brief or o.row_of]
    rows: dict[str, list[Option]] = {}
    for o in options:
        rows.setdefault(o.row_of or o.name, []).append(o)
    lines = list(HEADER)
    for members in rows.values():
        flags = ", ".join(f"`{o.flag}`" for o in members)
        defaults = list(dict.fromkeys(default_cell(o) for o in members))
        # Defaults that are comma lists themselves are told apart by semicolons.
        joiner = "; " if any("," in cell for cell in defaults) else ", "
        lines.append(f"| {flags} | {joiner.join(defaults)} | {members[0].brief} |")
    return "\n".join(lines) + "\n"


def with_table(readme: str) -> str:
    """``readme``'s text with its option table, from the header to the first line that is not
    a row, replaced by ``table()``."""
    lines = readme.splitlines(keepends=True)
    try:
        start = lines.index(HEADER[0] + "\n")
    except ValueError:
        raise NstError(f"the README has no option table (a line {HEADER[0]!r})") from None
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    return "".join(lines[:start]) + table() + "".join(lines[end:])
