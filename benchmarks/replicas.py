"""Scale-out: one campaign against one model replica and against two, behind a base-URL list.

Each replica is an instant server that serves one request at a time with a fixed latency (as a
llama.cpp server does), so throughput is bound by the replicas, not the client.

    python benchmarks/replicas.py [--latency 0.02] [--connections 8]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from common import instant_server, result, timed
from engine_overhead import campaign_file

from slant import audit


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency", type=float, default=0.02, help="seconds per request per replica")
    ap.add_argument("--connections", type=int, default=8)
    a = ap.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        instant_server(a.latency, True) as one,
        instant_server(a.latency, True) as two,
    ):
        path = campaign_file(Path(tmp), ages=[30, 50])  # 18 × 2 × 2 × 4 = 288 probes
        rates = {}
        for label, urls in (("one replica", one), ("two replicas", f"{one},{two}")):
            with timed() as t:
                run = audit(
                    path,
                    base_url=urls,
                    db=Path(tmp) / f"{len(urls)}.db",
                    max_connections=a.connections,
                    progress=False,
                )
            rates[label] = run.engine.sent / run.engine.seconds
            print(
                f"{label:13}: {run.engine.sent} calls sent in {run.engine.seconds:.1f} s = "
                f"{rates[label]:.1f} calls/s (whole audit {t['seconds']:.1f} s)"
            )
    print(f"ideal: {1 / a.latency:.0f} calls/s per replica")
    result("replicas", "speedup", rates["two replicas"] / rates["one replica"], 1.8)


if __name__ == "__main__":
    main()
