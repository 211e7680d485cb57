"""Command-line plumbing shared by the CLIs: one-line errors with exit code 2 instead of
tracebacks (this module), quiet output by default (`convae_tf.utils.quiet`), and one config
system for every program (`configs`: defaults, then a config file, then flags). The stages use
`configs` for their defaults; only the entry modules (convae_tf/<program>.py) call `run`."""

from __future__ import annotations

import os
import sys

from absl import app, flags

from convae_tf.cli.configs import (
    ConfigFlags,
    Fields,
    check_fields,
    config_from_fields,
    define_config_flags,
    program_flags_in_help,
)
from convae_tf.errors import UserError
from convae_tf.utils.quiet import quiet_python_logs, quiet_start

# Errors caused by what the user gave us. Anything else is a bug and keeps its traceback.
# OSError: a path that is missing, not a folder, not writable, a full disk... (the user's to fix).
USER_ERRORS = (UserError, OSError)
USAGE_EXIT_CODE = 2


def fail(message) -> None:
    if isinstance(message, OSError) and message.filename:
        message = f"{message.filename}: {message.strerror}; check the path and its permissions"
    prog = os.path.basename(sys.argv[0]) if sys.argv else "convae_tf"
    print(f"{prog}: error: {message}", file=sys.stderr)
    sys.exit(USAGE_EXIT_CODE)


def _parse_flags(argv):
    try:
        remaining = flags.FLAGS(argv)
    except flags.Error as error:
        fail(f"{error} (see --helpshort)")
    quiet_python_logs()
    return remaining


def run(main) -> None:
    """`absl.app.run(main)`, with bad flags and user errors reported in one line (exit 2)."""

    def guarded_main(argv):
        if len(argv) > 1:
            fail(f"unexpected arguments {argv[1:]}; every option is a --flag=value")
        try:
            return main(argv)
        except USER_ERRORS as error:
            fail(error)

    program_flags_in_help()
    app.run(guarded_main, flags_parser=_parse_flags)


__all__ = [
    "USER_ERRORS",
    "ConfigFlags",
    "Fields",
    "check_fields",
    "config_from_fields",
    "define_config_flags",
    "fail",
    "quiet_start",
    "run",
]
