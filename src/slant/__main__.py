"""``python -m slant`` and the ``slant`` console script: the command line in a process of its own."""

import sys


def run() -> int:
    """:func:`slant.cli.main` in the command's own process. statsmodels imports formulaic (with narwhals
    and wrapt: 9 MiB resident, 75 ms) when it is installed, to parse formulas; slant builds its design
    matrices itself and fits no formula, so the command does without it (statsmodels parses any formula
    with patsy then)."""
    sys.modules.setdefault("formulaic", None)  # type: ignore[arg-type]  # None: its import raises ImportError
    from slant.cli import main

    return main()


if __name__ == "__main__":
    sys.exit(run())
