"""Which process sends which request key, so that runs of the same requests at once pay for a call once.

Before it sends a request, the engine claims the request's key in the database (table ``claims``). A key
another live process has claimed is not sent: the engine waits until that process has stored its
response, then uses it. A claim is released in the transaction that stores its response (or when its
engine stops). The claim of a process that died (kill -9, a crash) is abandoned: on this host a
process that no longer exists is seen at once; elsewhere its heartbeat, renewed every ``HEARTBEAT``
seconds, grows older than ``TIMEOUT``.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import sqlite_utils

HEARTBEAT = 5.0  # seconds between renewals of a live engine's claims
TIMEOUT = 60.0  # a claim not renewed for this long is abandoned
_HOST = socket.gethostname()


@dataclass
class Taken:
    """What ``Claims.take`` found for a batch of keys."""

    mine: list[str] = field(default_factory=list)  # claimed now: send these
    busy: dict[str, str] = field(default_factory=dict)  # another live process is sending them: key → owner
    settled: list[str] = field(default_factory=list)  # another process stored their response meanwhile


class Claims:
    """One engine's claims on request keys; ``owner`` is ``host:pid:token``."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db
        self.owner = f"{_HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        # attempts stored after this row id were made while this engine ran (by another process: this
        # one only takes a key once), so an error row they left is that process's answer, not a stale one
        self.watermark = db.execute("select coalesce(max(id), 0) from attempts").fetchone()[0]

    def take(self, keys: list[str]) -> Taken:
        """Claim each key that has no fresh response and no live claim of another process."""
        taken = Taken()
        now = time.time()
        with self.db.atomic():
            ok: set[str] = set()  # answered
            recent: set[str] = set()  # attempted by another process since this engine started
            claims: dict[str, tuple[str, float]] = {}  # key → (owner, heartbeat)
            for chunk in _chunks(keys):
                marks = ",".join("?" * len(chunk))
                ok |= _column(
                    self.db, f"select key from responses where error_kind is null and key in ({marks})", chunk
                )
                recent |= _column(
                    self.db,
                    f"select key from attempts where id > ? and key in ({marks})",
                    [self.watermark, *chunk],
                )
                claims |= {
                    r[0]: (r[1], r[2])
                    for r in self.db.execute(
                        f"select key, owner, heartbeat from claims where key in ({marks})", chunk
                    )
                }
            for key in keys:
                owner, heartbeat = claims.get(key, (self.owner, now))
                if key in ok or key in recent:
                    taken.settled.append(key)
                elif owner != self.owner and alive(owner, heartbeat, now):
                    taken.busy[key] = owner
                else:
                    taken.mine.append(key)
            rows = ({"key": k, "owner": self.owner, "heartbeat": now} for k in taken.mine)
            self.db.table("claims").upsert_all(rows, pk="key")
        return taken

    def release(self, keys: list[str]) -> None:
        """Drop this engine's claims on these keys (inside the transaction that stores their responses)."""
        for chunk in _chunks(keys):
            marks = ",".join("?" * len(chunk))
            self.db.execute(f"delete from claims where owner = ? and key in ({marks})", [self.owner, *chunk])

    def release_all(self) -> None:
        """Drop every claim of this engine (when it stops: what it did not send, another run may)."""
        with self.db.atomic():
            self.db.execute("delete from claims where owner = ?", [self.owner])

    async def keep_alive(self) -> None:
        """Renew this engine's claims every HEARTBEAT seconds until cancelled."""
        while True:
            await asyncio.sleep(HEARTBEAT)
            try:
                with self.db.atomic():
                    self.db.execute(
                        "update claims set heartbeat = ? where owner = ?", [time.time(), self.owner]
                    )
            except sqlite3.OperationalError:  # the database stayed locked: renew at the next beat
                continue


def alive(owner: str, heartbeat: float, now: float) -> bool:
    """Whether the process that holds a claim may still be sending it."""
    if now - heartbeat > TIMEOUT:
        return False
    host, pid = _host_pid(owner)
    if host != _HOST or os.name == "nt":  # on Windows, os.kill(pid, 0) would send Ctrl-C
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def who(owner: str) -> str:
    """A claim's owner for people: ``pid N`` (``pid N on H`` for another host)."""
    host, pid = _host_pid(owner)
    return f"pid {pid}" if host == _HOST else f"pid {pid} on {host}"


def _host_pid(owner: str) -> tuple[str, int]:
    host, pid, _ = owner.rsplit(":", 2)
    return host, int(pid)


def _chunks(keys: list[str], size: int = 400) -> Iterator[list[str]]:
    for i in range(0, len(keys), size):
        yield keys[i : i + size]


def _column(db: sqlite_utils.Database, sql: str, params: Sequence[object]) -> set[str]:
    return {r[0] for r in db.execute(sql, params).fetchall()}
