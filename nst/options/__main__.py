"""``python -m nst.options --readme [README]``: rewrite the README's option table from the
declarations; without ``--readme``, print the table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nst.errors import EXIT_USAGE, NstError
from nst.options.readme import table, with_table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nst.options", description=__doc__)
    parser.add_argument("--readme", action="store_true", help="rewrite the table in README")
    parser.add_argument("path", nargs="?", default="README.md", metavar="README", help="(default: README.md)")
    args = parser.parse_args(argv)
    if not args.readme:
        sys.stdout.write(table())
        return 0
    path = Path(args.path)
    try:
        text = path.read_text(encoding="utf-8")
        updated = with_table(text)
    except (OSError, NstError) as error:
        print(f"python -m nst.options: error: {path}: {error}", file=sys.stderr)
        return EXIT_USAGE
    if updated != text:
        path.write_text(updated, encoding="utf-8")
        print(f"rewrote the option table in {path}")
    else:
        print(f"the option table in {path} is current")
    return 0


if __name__ == "__main__":
    sys.exit(main())
