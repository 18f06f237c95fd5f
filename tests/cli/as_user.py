"""`python as_user.py USER UMASK COMMAND RUN [ARGS...]`: `emb-opt COMMAND RUN ARGS...` as the
Unix account USER with that umask (octal), started as root.

This Python lives where USER may not read (under /root here), so the modules the command
may need are imported first, as root (every emb_opt module, and those an `emb-opt status
RUN` imports), and only then does the process become USER (its groups too) for the command
itself.
"""

from __future__ import annotations

import contextlib
import encodings.utf_8_sig
import encodings.utf_16  # noqa: F401
import importlib
import io
import os
import pkgutil
import pwd
import sys

import faiss  # noqa: F401  (the test runs' backend)
import pyarrow.parquet  # noqa: F401  (the results table, which status does not write)

import emb_opt
from emb_opt.cli.main import main


def import_everything() -> None:
    """Every emb_opt module whose dependencies are installed (not `__main__`, which runs)."""
    for module in pkgutil.walk_packages(emb_opt.__path__, "emb_opt."):
        if module.name.endswith("__main__"):
            continue
        with contextlib.suppress(ImportError):
            importlib.import_module(module.name)


if __name__ == "__main__":
    name, umask, command, run, *rest = sys.argv[1:]
    import_everything()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        main(["status", run])
    user = pwd.getpwnam(name)
    os.setgroups(os.getgrouplist(name, user.pw_gid))
    os.setgid(user.pw_gid)
    os.setuid(user.pw_uid)
    os.umask(int(umask, 8))
    sys.exit(main([command, run, *rest]))
