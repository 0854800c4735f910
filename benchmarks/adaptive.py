"""Adaptive stopping against the full grid, on a dataset with no gap and one with a planted gap.

The instant server answers "fairly" (P(yes) ignores who the person is, ±0.005 noise); the planted
dataset lowers P(yes) by 0.05 whenever the case is about a woman. The full grid asks all 2,016 probes
and reads verdicts the usual way (gap: BH p < 0.05; equivalent: TOST p < 0.05 at ±0.02); the adaptive
run asks matched sets in random order in 6 looks with α spent evenly over them (slant.adaptive).

    python benchmarks/adaptive.py
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import yaml
from common import instant_server, result
from engine_overhead import campaign_file

from slant import audit, open_db


def grid_verdicts(db, run_id: str) -> dict[str, str]:
    out = {}
    for r in db.query("select * from disparities where run_id = ? and metric = 'paired_gap'", [run_id]):
        label = f"{r['cue']} · {r['axis']}: {r['grp']} vs {r['reference']}"
        if r["p_adj"] is not None and r["p_adj"] < 0.05:
            out[label] = "gap"
        elif r["p_tost"] is not None and r["p_tost"] < 0.05:
            out[label] = "equivalent"
        else:
            out[label] = "undecided"
    return out


def main() -> None:
    ratios, same = [], True
    for dataset, extra in (("no gap", ("--fair",)), ("planted gap", ("--fair", "--shift", "woman=-0.05"))):
        with tempfile.TemporaryDirectory() as tmp, instant_server(extra=extra) as url:
            t = Path(tmp)
            full_path = campaign_file(t, "grid")
            grid = audit(full_path, base_url=url, progress=False)
            spec = yaml.safe_load(full_path.read_text())
            spec.update(name="adaptive", adaptive={"looks": 6, "alpha": 0.05}, db=str(t / "adaptive.db"))
            path = t / "adaptive.yaml"
            path.write_text(yaml.safe_dump(spec))
            run = audit(path, base_url=url, progress=False)
            grid_v = grid_verdicts(open_db(grid.db_path), grid.run_id)
            log = json.loads(open_db(run.db_path).table("runs").get(run.run_id)["adaptive"])
            adaptive_v = log[-1]["sets"]["decisions"]["verdicts"]
        ratio = grid.engine.sent / run.engine.sent
        ratios.append(ratio)
        same &= grid_v == adaptive_v
        print(f"{dataset}: full grid {grid.engine.sent} calls, adaptive {run.engine.sent} calls in "
              f"{len(log)} looks → {ratio:.1f}× fewer")  # fmt: skip
        for label in grid_v:
            print(f"    {label:32} grid {grid_v[label]:10} adaptive {adaptive_v.get(label)}")
    print(f"same verdicts on both datasets: {same}")
    result("adaptive", "min_call_ratio", min(ratios) if same else 0.0, 3.0)


if __name__ == "__main__":
    main()
