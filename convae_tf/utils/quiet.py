"""Quiet by default: a CLI prints its stage lines, Keras's progress and its results.

TensorFlow's C++ logs, absl INFO lines and the libraries' Python warnings show only with absl's
own -v/--verbosity (0 = INFO; it sets TensorFlow's C++ level too) or the user's own
TF_CPP_MIN_LOG_LEVEL. `import convae_tf` outside a CLI (a notebook, a script) changes nothing.
convae_tf/__init__.py calls `quiet_start()` before TensorFlow is imported, and the stand-alone
deploy/predict.py loads this file by its path (it imports nothing of convae_tf): keep its
imports to the standard library and absl, and none of convae_tf.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import sys
import tempfile
import warnings

from absl import flags
from absl import logging as absl_logging

ENTRY_POINTS = (
    "train",
    "export",
    "evaluate",
    "embed",
    "predict",
    "prepare",
)  # convae-<name> scripts
VERBOSITY_FLAGS = ("-v", "--v", "-verbosity", "--verbosity")  # absl's spellings
QUIET_NATIVE_LEVEL = 3  # TF_CPP_MIN_LOG_LEVEL hiding errors too (cuInit on CPU-only machines)


def started_as_cli() -> bool:
    """Whether this process is `python -m convae_tf.<module>`, a `convae-<name>` script or one of
    the repository's experiment scripts (`python -m experiments.<module>`; the CLIs they start as
    subprocesses inherit the level)."""
    return cli_module() is not None


def cli_module() -> str | None:
    """The module this process runs as a CLI ("convae_tf.predict" for `convae-predict` too,
    "experiments.photo_denoise", ...), None outside one (a library user, pytest).

    Asked while convae_tf is being imported. Under -m, sys.argv[0] is "-m" while the module's
    packages are imported, then the module's file while it runs (an experiment script imports
    convae_tf from its body); only sys.orig_argv names the module."""
    script = os.path.basename(sys.argv[0]) if sys.argv else ""
    if script in {f"convae-{name}" for name in ENTRY_POINTS}:
        return "convae_tf." + script.removeprefix("convae-")
    for option, module in itertools.pairwise(sys.orig_argv):
        if option == "-m" and module.startswith(("convae_tf.", "experiments.")):
            module_file = os.path.join(*module.split(".")) + ".py"
            # Not `python script.py -m convae_tf.x`, where -m is the script's argument.
            if sys.argv[:1] == ["-m"] or sys.argv[0].endswith(os.sep + module_file):
                return module
            return None
    return None


def verbosity_in(argv) -> int | None:
    """absl's -v/--verbosity in a command line, read before absl parses it (TensorFlow reads
    its C++ log level when imported, which is earlier). The last one wins, as in absl; None if
    absent or not an integer (absl reports the bad value when it parses)."""
    verbosity, args = None, iter(argv)
    for arg in args:
        if arg == "--":
            break
        name, has_value, value = arg.partition("=")
        if name in VERBOSITY_FLAGS:
            value = value if has_value else next(args, "")
            verbosity = int(value) if value.lstrip("-").isdigit() else None
    return verbosity


def native_log_level(argv, environ=os.environ) -> int:
    """TF_CPP_MIN_LOG_LEVEL for a CLI: the user's own if set; else absl's --verbosity mapped
    onto TensorFlow's levels (0 INFO or more, -1 WARNING, -2 ERROR, -3 FATAL); else quiet."""
    if environ.get("TF_CPP_MIN_LOG_LEVEL", "").isdigit():
        return int(environ["TF_CPP_MIN_LOG_LEVEL"])
    verbosity = verbosity_in(argv)
    return QUIET_NATIVE_LEVEL if verbosity is None else min(QUIET_NATIVE_LEVEL, max(0, -verbosity))


def quiet_start() -> None:
    """In a CLI, before TensorFlow and TFDS are imported (each reads its settings then): set
    TensorFlow's C++ log level; without -v/--verbosity, turn off TFDS's progress bars (tqdm's
    TQDM_DISABLE); then import TensorFlow with its start-up lines held back, as TensorFlow 2.21
    prints them whatever that level says. The user's own environment variables win."""
    if not started_as_cli():
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = str(native_log_level(sys.argv[1:]))
    if verbosity_in(sys.argv[1:]) is None:
        os.environ.setdefault("TQDM_DISABLE", "1")
    with native_info_held_back():
        import_tensorflow_alone()


def import_tensorflow_alone() -> None:
    """Imports TensorFlow without the Keras that its __init__ imports eagerly (TensorFlow 2.21:
    `importlib.import_module("keras.src.optimizers")`, for the legacy tf.keras SavedModel
    registry, in a try that passes on ImportError): about 1.5 s of start-up, scikit-learn
    included through keras.wrappers, that a process running exported models never uses
    (predict). Keras imports as usual when something asks for it later; the CLIs that train
    import it right after. Nothing is blocked once TensorFlow or Keras is imported."""
    if "tensorflow" in sys.modules or "keras" in sys.modules:
        return
    sys.modules["keras"] = None  # `import keras` raises ImportError while this stands
    try:
        import tensorflow  # noqa: F401
    finally:
        if "keras" in sys.modules and sys.modules["keras"] is None:
            del sys.modules["keras"]


@contextlib.contextmanager
def native_info_held_back():
    """While TF_CPP_MIN_LOG_LEVEL hides INFO (1 or more), C++ output of the block is held back:
    TensorFlow's import (oneDNN, CUDA drivers), the TFLite converter and LiteRT's XNNPACK
    delegate print lines that ignore that level (tensorflow/tensorflow#100442). File
    descriptor 2 points at a temporary file meanwhile; its text is replayed if the block fails.
    Used by the CLIs' start-up, the TFLite converter and the predict runners."""
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") in ("", "0"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        failed = True
        try:
            yield
            failed = False
        finally:
            sys.stderr.flush()  # Python's own writes of the block belong to the held text
            os.dup2(saved, 2)
            os.close(saved)
            if failed:
                held.seek(0)
                os.write(2, held.read())


def quiet_python_logs() -> None:
    """After absl parsed the flags, unless -v/--verbosity was given: loggers show errors only
    (convae_tf's own warnings stay) instead of absl's INFO default, and the libraries' Python
    warnings are hidden unless the user chose some with -W or PYTHONWARNINGS."""
    if flags.FLAGS["verbosity"].present:
        return
    flags.FLAGS.verbosity = absl_logging.ERROR  # absl then leaves it, as the flag is now set
    logging.getLogger("convae_tf").setLevel(logging.WARNING)
    if not sys.warnoptions:
        warnings.simplefilter("ignore")
