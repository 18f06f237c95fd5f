"""`python as_user.py USER UMASK COMMAND RUN [ARGS...]`: `emb-opt COMMAND RUN ARGS...` as the
Unix account USER with that umask (octal), started as root.

This Python lives where USER may not read (under /root here), so the modules the command
needs are imported first, as root, by an `emb-opt status RUN` (which changes nothing), and
only then does the process become USER (its groups too) for the command itself.
"""

from __future__ import annotations

import contextlib
import io
import os
import pwd
import sys

import pyarrow.parquet  # noqa: F401  (the results table, which status does not write)

from emb_opt.cli.main import main

if __name__ == "__main__":
    name, umask, command, run, *rest = sys.argv[1:]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        main(["status", run])
    user = pwd.getpwnam(name)
    os.setgroups(os.getgrouplist(name, user.pw_gid))
    os.setgid(user.pw_gid)
    os.setuid(user.pw_uid)
    os.umask(int(umask, 8))
    sys.exit(main([command, run, *rest]))
