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


def print_config(cfg) -> None:
    """``--print_config``: the resolved config as YAML on stdout."""
    import yaml

    from serkit.config import to_dict

    yaml.safe_dump(to_dict(cfg), sys.stdout, sort_keys=False)


def require(args, *names: str) -> None:
    """A clear error for the first option among ``names`` left unset."""
    from serkit.errors import ConfigError

    for name in names:
        if getattr(args, name) is None:
            raise ConfigError(f"--{name} is required")


def run_trainer(trainer) -> None:
    try:
        trainer.run()
    finally:
        trainer.close()
