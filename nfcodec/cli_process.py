"""Settings the command line applies to its own process, never to a library user's.

They apply only after `own_process()`, which the console entry point (`nfcodec.cli.run`, also
`python -m nfcodec`) calls; `nfcodec.cli.main` invoked from Python (tests, notebooks) is left
alone, so a caller's scipy and interpreter shutdown stay as they were.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

# numba imports these on its first call only to support BLAS (np.dot, via scipy.linalg: ~0.4 s)
# and cffi functions (~0.05 s); the decoder's kernels use neither.
UNUSED_BY_DECODER = ("scipy", "cffi")

_state = {"owned": False, "quick_exit": False}


def own_process() -> None:
    """Mark this process as the CLI's own: the settings below may change it."""
    _state["owned"] = True


def owns_process() -> bool:
    return _state["owned"]


def hide_modules_numba_probes() -> None:
    """Make numba's optional imports fail fast in a decode process (nothing here needs them)."""
    if not _state["owned"]:
        return
    for name in UNUSED_BY_DECODER:
        if name not in sys.modules:
            sys.modules[name] = None  # type: ignore[assignment]  # import raises ImportError


def allow_quick_exit() -> None:
    """Called once the command's output files are written and closed: nothing is left to do."""
    _state["quick_exit"] = _state["owned"]


def finish(code: int | str | None) -> NoReturn:
    """Leave with `code` (a SystemExit code). After a successful command that allowed it, skip
    the interpreter's teardown (~0.3 s of freeing numba's compiled code and threads)."""
    if _state["quick_exit"] and code in (0, None):
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except (OSError, ValueError):  # a closed or broken pipe: fail as Python's exit would
            os._exit(120)
        os._exit(0)
    sys.exit(code)
