"""Shared plumbing of the command-line tools: logging and user-error handling."""
from __future__ import annotations

import logging
import sys
from typing import Callable

from serkit.errors import SerkitError


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def run_main(main: Callable[[], None]) -> None:
    """Exit 0 on success, 1 with one line on stderr for a user mistake, 2 for bad usage."""
    try:
        main()
    except SerkitError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(0)
