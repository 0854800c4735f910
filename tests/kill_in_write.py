"""Run the ``slant`` command and SIGKILL it from inside a database write (tests only).

``python tests/kill_in_write.py N LOG run campaign.yaml …`` counts the row batches slant writes
(``store.upsert``); right after the N-th batch is written, and so usually before its transaction
commits, the process appends "table in_transaction" to LOG and kills itself with SIGKILL, the way a
power cut or the OOM killer would.
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
    if _calls == int(sys.argv[1]):
        with open(sys.argv[2], "a", encoding="utf-8") as log:
            log.write(f"{table} {int(db.conn.in_transaction)}\n")
        os.kill(os.getpid(), signal.SIGKILL)


store.upsert = _upsert_then_die
sys.exit(main(sys.argv[3:]))
