"""Run the ``slant`` command and SIGKILL it from inside a database write (tests only).

``python tests/kill_in_write.py WHEN LOG run campaign.yaml …`` watches the row batches slant writes
(``store.upsert``); right after the batch WHEN names is written (a number N: the N-th batch; a table
name: the first batch into that table), and so usually before its transaction commits, the process
appends "table in_transaction" to LOG and kills itself with SIGKILL, the way a power cut or the OOM
killer would.
"""

from __future__ import annotations

import os
import signal
import sys

from slant import store
from slant.cli import main

_upsert = store.upsert
_calls = 0


def _upsert_then_die(db, table, rows):  # the signature of store.upsert
    global _calls
    _upsert(db, table, rows)
    _calls += 1
    when = sys.argv[1]
    if (when.isdigit() and _calls == int(when)) or when == table:
        with open(sys.argv[2], "a", encoding="utf-8") as log:
            log.write(f"{table} {int(db.conn.in_transaction)}\n")
        os.kill(os.getpid(), signal.SIGKILL)


store.upsert = _upsert_then_die
sys.exit(main(sys.argv[3:]))
