"""The ``slant`` command: thin subcommands over the public API (the names ``slant`` exports) that
parse arguments and render results."""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import math
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

import slant
from slant import SlantError, errors


class _Console(Console):
    def on_broken_pipe(self) -> None:
        """A closed stdout (`slant report | head`) ends the command quietly in main(), not with rich's
        exit 1 (the "a gate failed" code)."""
        raise BrokenPipeError


# Wide enough for the disparity tables when output goes to a file or CI log.
console = _Console(soft_wrap=True) if sys.stdout.isatty() else _Console(width=150, soft_wrap=True)


def _run(a: argparse.Namespace) -> int:
    result = slant.audit(
        a.campaign,
        target=a.target,
        base_url=a.base_url,
        db=a.db,
        limit=a.limit,
        dry_run=a.dry_run,
        fresh=a.fresh,
        progress=not a.no_progress,
        max_connections=a.max_connections,
        prefill=a.prefill,
        prices=_prices(a),
    )
    if a.dry_run:
        for name, n in result.by_set.items():
            console.print(
                f"  {name}: {n['probes']} probes, {n['requests']} requests, {n['cached']} cached",
                markup=False,
                highlight=False,
            )
        for line in slant.estimate_lines(result.tokens):
            console.print(line, markup=False, highlight=False)
        console.print(
            f"dry run: {result.n_probes} probes, {result.n_requests} requests, "
            f"{result.n_cached} already in {result.db_path}, "
            f"{result.n_requests - result.n_cached} model calls would be made"
        )
        return errors.EXIT_OK
    e = result.engine
    sent = e.sent if e else 0
    shared = f", {e.shared} answered by another run ({', '.join(e.shared_with)})" if e and e.shared else ""
    console.print(
        f"model calls: {sent} sent ({e.attempts if e else 0} attempts), {result.n_cached} cached, "
        f"{e.failed if e else 0} failed{shared} → {result.db_path}"
    )
    slant.print_report(slant.open_db(result.db_path), result.run_id, console)
    budget = result.tokens.get("stopped")
    if result.status == "unusable":
        console.print(
            f"[yellow]run {result.run_id} is unusable: every call was answered but no outcome could be "
            "scored (see the parse statuses above: no_logprobs means the target returned no logprobs; "
            "use sampling scoring for such a target)[/]"
        )
        return errors.EXIT_INCOMPLETE
    if result.status != "complete":
        if not budget or (e and e.failed):  # a budget's stop is said in the report's token lines
            console.print(
                f"[yellow]run {result.run_id} is incomplete: {_failures(e.errors if e else {})}; "
                "failed calls are stored as errors; rerun the same command to retry them[/]"
            )
        return errors.EXIT_INCOMPLETE
    return errors.EXIT_OK


FAILURE_WORDS = {  # error kind → what happened, and what may help
    "rate_limited": "rate-limited (429: lower --max-connections)",
    "timeout": "timed out (raise the campaign's timeout)",
    "connection": "could not connect (is the server up?)",
    "bad_response": "answered with an unusable reply",
}


def _prices(a: argparse.Namespace) -> dict[str, float] | None:
    """``--price-prompt/--price-completion/--price-cached`` as a campaign's ``prices`` (None: not given)."""
    given = {k: getattr(a, f"price_{k}") for k in ("prompt", "completion", "cached")}
    if all(v is None for v in given.values()):
        return None
    for k in ("prompt", "completion"):
        if given[k] is None:
            raise SlantError(f"--price-{k} is needed with the other --price-* options")
    return {k: v for k, v in given.items() if v is not None}


def _failures(kinds: dict[str, int]) -> str:
    """Why calls failed, from the engine's error counts per kind: "12 calls failed: 10 rate-limited
    (429: lower --max-connections), 2 HTTP 503"."""
    if not kinds:
        return "some calls failed"
    parts = [
        f"{n} {FAILURE_WORDS.get(kind, kind.replace('http_', 'HTTP '))}"
        for kind, n in sorted(kinds.items(), key=lambda kv: -kv[1])
    ]
    total = sum(kinds.values())
    return f"{total} call{'s' if total != 1 else ''} failed: {', '.join(parts)}"


def _report(a: argparse.Namespace) -> int:
    db = slant.open_existing(a.db)
    if not (a.json or a.markdown or a.html):
        slant.print_report(db, a.run, console)
        return errors.EXIT_OK
    s = slant.summary(db, a.run)
    outputs = [
        (a.json, lambda: slant.to_json(s)),
        (a.markdown, lambda: slant.markdown(s)),
        (a.html, lambda: slant.html_report(db, s["run"]["id"])),
    ]
    for path, render in outputs:
        if path:
            _write(path, render())
    return errors.EXIT_OK


def _search(a: argparse.Namespace) -> int:
    settings = {k: getattr(a, k) for k in ("seed", "sets", "confirm", "confirm_sets", "alpha")}
    rewrite = {"rewrite_with": a.rewrite_with, "rewrite_base_url": a.rewrite_base_url}
    search = slant.BiasSearch(
        a.campaign, a.budget, target=a.target, base_url=a.base_url, db=a.db, **rewrite, **settings
    )
    result = search.run()
    console.print(
        f"search {result.search_id}: {result.status} ({result.stop_reason}); calls {result.calls_search} "
        f"search + {result.calls_confirm} confirmation, {result.sent} sent now; "
        f"{len(result.confirmed)} of {len(result.tested)} findings confirmed → {search.db_path}",
        markup=False,
        highlight=False,
    )
    _write(a.markdown or "-", result.report())
    return errors.EXIT_OK


def _search_report(a: argparse.Namespace) -> int:
    _write(a.markdown or "-", slant.search_report(a.db, a.search))
    return errors.EXIT_OK


def _refusals(a: argparse.Namespace) -> int:
    rows = slant.label_file(a.file, a.policy)
    _write(a.output or "-", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return errors.EXIT_OK


def _score(a: argparse.Namespace) -> int:
    rows = slant.score_file(a.family, a.file, a.pack, a.field)
    summary = slant.summarize_scores(a.family, rows)
    out = summary if a.family == "decision" else rows  # decision: one row per fixed effect
    _write(a.output or "-", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in out))
    for line in slant.score_summary_lines(summary):
        print(line, file=sys.stderr)
    return errors.EXIT_OK


def _judge(a: argparse.Namespace) -> int:
    slant.open_existing(a.db).close()  # a missing file, a folder or another program's database stops here
    r = slant.judge_refusals(
        a.db,
        a.run,
        target=a.target,
        base_url=a.base_url,
        limit=a.limit,
        repeats=a.repeats,
        seed=a.seed,
        progress=not a.no_progress,
    )
    console.print(
        f"run {r.run_id}: {r.annotator} labelled {r.n_judged} of {r.n_replies} replies "
        f"({r.n_replies - r.n_judged} without a majority label); {r.repeats} repeat(s) per reply at "
        f"temperature 0, seed {r.seed}: {r.n_unparsed} answers named no single label, {r.n_failed} calls "
        f"failed; {r.calls_sent} judge calls sent"
    )
    c = r.consistency or {}
    if r.repeats > 1 and c.get("n"):
        fleiss = "undefined" if c["fleiss_kappa"] is None else f"{c['fleiss_kappa']:.3f}"
        console.print(
            f"self-consistency: {c['consistent']:.1%} of {c['n']} replies got one label in every repeat "
            f"({c['n_incomplete']} left out: an answer named no label); Fleiss' kappa {fleiss}"
        )
    if r.n_judged:
        kappa = "undefined (one label only)" if r.kappa is None else f"{r.kappa:.3f}"
        ci = f" [95% CI {r.kappa_ci[0]:.3f}, {r.kappa_ci[1]:.3f}]" if r.kappa_ci else ""
        console.print(
            f"agreement with classify_refusal: {r.agreement:.1%}, Cohen's kappa {kappa}{ci} "
            f"over {r.n_judged} replies"
        )
        _print_confusion(r.table or {})
    return errors.EXIT_OK


def _print_confusion(table: dict[str, dict[str, int]]) -> None:
    """The confusion table: classify_refusal's labels in rows, the judge's majority labels in columns."""
    from rich.table import Table

    labels = list(table)
    out = Table(title="replies by label: classify_refusal (rows) × judge (columns)", title_justify="left")
    out.add_column("")
    for label in labels:
        out.add_column(label, justify="right")
    for label in labels:
        out.add_row(label, *(str(table[label][other]) for other in labels))
    console.print(out)


def _plan(a: argparse.Namespace) -> int:
    if a.campaign is None and a.gap is None:
        raise SlantError("plan: give --gap (matched sets for a P(yes) gap), a campaign, or both")
    if a.campaign is not None:
        for line in slant.model_advice(slant.load_campaign(a.campaign)):
            console.print(line, markup=False, highlight=False)
    if a.gap is None:
        return errors.EXIT_OK
    try:
        sets = slant.matched_sets_for_gap(a.gap, a.sd, a.alpha, a.power)
        rates = slant.responses_for_rate_gap(a.rate, a.rate_gap, a.alpha, a.power) if a.rate_gap else None
    except ValueError as e:
        raise SlantError(f"plan: {e}") from None
    level = f"{a.power:.0%} power at alpha {a.alpha}"
    console.print(
        f"P(yes) gap of {a.gap} (sd of per-set differences {a.sd}): {sets} matched sets "
        f"per comparison for {level} (paired t over matched sets)"
    )
    if rates is not None:
        console.print(
            f"rate {a.rate} vs {a.rate + a.rate_gap:.3g}: {rates} responses per group for {level} "
            "(two proportions, Cohen's h)"
        )
    return errors.EXIT_OK


def _browse(a: argparse.Namespace) -> int:
    slant.open_existing(a.db).close()  # a missing file, a folder or another program's database stops here
    console.print(
        f"serving {a.db} at http://127.0.0.1:{a.port}/ (Ctrl-C to stop); canned queries: "
        "findings, equivalent, refusals_by_group, errors, runs"
    )
    return slant.browse(Path(a.db), a.port, open_browser=not a.no_open)


def _probes(a: argparse.Namespace) -> int:
    from rich.table import Table
    from rich.text import Text

    def fields(title: str, model: type[Any], skip: tuple[str, ...] = ()) -> Table:
        """One row per field: its name, default ("required" when it has none) and meaning, wrapped."""
        table = Table(title=title, title_justify="left", show_header=True, expand=True)
        table.add_column("field", no_wrap=True)
        table.add_column("default", ratio=1, overflow="fold")
        table.add_column("meaning", ratio=2)
        for name, info in model.model_fields.items():
            if name not in skip and not info.exclude:
                table.add_row(name, Text(_default_text(info)), Text(info.description or ""))
        return table

    console.print(fields("[bold]campaign[/] — the top level of a campaign file", slant.Campaign))
    for name, module in slant.FAMILIES.items():
        doc = module.doc.strip().split("\n\n")[0]  # the first paragraph, whole
        console.print()
        console.print(Text.assemble((name, "bold"), " — ", " ".join(doc.split())))
        if module.dataset:
            for ds in (module.dataset, *module.also_reads):
                console.print(f"data: {ds.title} — {ds.homepage} (slant data download {ds.name} DIR)")
                console.print(f"licence: {ds.licence}; cite: {ds.citation}")
            for m in module.metrics:
                console.print(f"metric {m.name}: {m.title}")
        console.print(fields(f"fields of a probe set with family: {name}", module.Spec, skip=("family",)))
    return errors.EXIT_OK


def _data_download(a: argparse.Namespace) -> int:
    for path in slant.download_dataset(a.name, Path(a.dest)):
        console.print(f"{a.name} → {path}")
    return errors.EXIT_OK


def _default_text(info: Any) -> str:
    """A field's default as it would be written in a campaign file (JSON is YAML), or "required"."""
    from pydantic import BaseModel

    if info.is_required():
        return "required"
    value = info.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        value = value.model_dump(exclude_none=True)
    return json.dumps(value, ensure_ascii=False, default=str)


def _infer(a: argparse.Namespace) -> int:
    samples = slant.read_samples(a.samples, task=a.task)  # bad files stop here, before any model call
    cfg = slant.PreferenceConfig(method=a.method, steps=a.steps, k=a.k, tau=a.tau)
    with slant.PreferenceSession(target=a.target, user=a.user, db=a.db, config=cfg, base_url=a.base_url) as s:
        queued = s.add_samples(samples)
        console.print(f"{a.user}: learning from {queued} new samples of {len(samples)} with {a.method}")
        profile = s.infer()
        while s.pending:
            if a.yes or not sys.stdin.isatty():
                if not a.yes:
                    console.print(str(profile), markup=False, highlight=False)
                    console.print("review pending: rerun with --yes to confirm all, or review in Python")
                    return errors.EXIT_OK
                profile = s.confirm_all()
                continue
            profile = _review_one(s, profile, s.pending[0])
        console.print(str(profile), markup=False, highlight=False)
        ledger = s.llm.ledger
        console.print(
            f"model calls: {len(ledger.keys)} ({ledger.sent} sent, {ledger.failed} failed) → {a.db}, "
            f"profile version {profile.version}"
        )
        console.print(ledger.token_text(), markup=False, highlight=False)
        return errors.EXIT_INCOMPLETE if ledger.failed else errors.EXIT_OK


def _review_one(s: Any, profile: Any, i: int) -> Any:
    c = profile.components[i]
    answer = input(f"{i}. {c.text}  (mean {c.mean}) — keep? [y]es / [n]o / [e]dit: ").strip().lower()
    if answer.startswith("e"):
        return s.edit(i, input("new text: "))
    return s.reject(i) if answer.startswith("n") else s.confirm(i)


def _generate_scenarios(a: argparse.Namespace) -> int:
    cfg = {"kind": a.kind, "n": a.n, "retries": a.retries, "review": not a.yes, "judge": not a.no_judge}
    with slant.ScenarioSession(
        a.target, a.brief, a.out, a.db, cfg, a.base_url, a.force, draft_tokens=a.max_tokens
    ) as g:
        console.print(f"drafting {a.n} {a.kind} scenarios with {g.llm.target_id}: {a.brief}")
        g.run()
        for d in g.checked:
            verdict = "ok" if not d["reason"] else f"rejected: {d['reason']}"
            console.print(f"  [{d['topic']} #{d['attempt'] + 1}] {verdict}", markup=False, highlight=False)
        while g.pending:
            if not sys.stdin.isatty():
                console.print(
                    "review pending: rerun with --yes to accept the verified drafts, or review in Python"
                )
                return errors.EXIT_OK
            _review_draft(g, g.pending[0])
        s, ledger = g.survival, g.llm.ledger
        console.print(
            f"{s['survived']} of {s['drafts']} drafts passed every check → {g.path or 'nothing written'}"
        )
        console.print(
            f"model calls: {len(ledger.keys)} ({ledger.sent} sent, {ledger.failed} failed) → {a.db}"
        )
        console.print(ledger.token_text(), markup=False, highlight=False)
        return errors.EXIT_INCOMPLETE if ledger.failed else errors.EXIT_OK


def _generate_personas(a: argparse.Namespace) -> int:
    if a.spec:  # one --spec per axis, or axes separated by ';': crossed either way
        n, written = slant.spec_pack(a.spec, a.out, a.force)
        console.print(f"{n} personas → {written}")
        return errors.EXIT_OK
    draft = slant.draft_style_packs(
        a.target,
        a.db,
        base_url=a.base_url,
        profile_of=a.from_profile,
        method=a.method,
        samples=a.from_samples,
        user=a.user,
        n=a.n,
        retries=a.retries,
        reviewed=not a.yes,
    )
    for r in draft.rewrites:
        verdict = f"ok: {r.text}" if r.text else "rejected: " + "; ".join(r.reasons)
        console.print(f"  [{r.sample.id}] {verdict}", markup=False, highlight=False)
    if not a.yes and (not sys.stdin.isatty() or not input("write? [y/n] ").strip().lower().startswith("y")):
        console.print("not written: rerun with --yes to accept the verified rewrites")
        return errors.EXIT_OK
    usage_out = a.usage_out or str(Path(a.out).with_name(f"{Path(a.out).stem}-usage.yaml"))
    console.print(f"persona pack → {draft.write_personas(a.out, a.force)}")
    if usage_path := draft.write_usage(usage_out, a.force):
        console.print(f"usage pack ({len(draft.usage['pairs'])} text pairs) → {usage_path}")
    else:
        console.print("no rewrite passed the checks: no usage pack written")
    return errors.EXIT_OK


def _review_draft(g: Any, i: int) -> None:
    console.print(f"{i}. {g.drafts[i]['text']}", markup=False, highlight=False)
    answer = input("accept? [y]es / [n]o (drop) / [e]dit: ").strip().lower()
    if answer.startswith("e"):
        try:
            g.edit(i, input("new text (case, then the question after a '|'): ").replace("|", "\n"))
        except SlantError as e:
            console.print(str(e), markup=False)
    elif answer.startswith("n"):
        g.drop(i)
    else:
        g.accept(i)


OUTPUT_OPTIONS = ("json", "markdown", "html", "junit", "output")  # --out (a pack) is checked by its writer


def _check_outputs(a: argparse.Namespace) -> None:
    """Every output file a command will write can be written: checked before any work or model call."""
    for name in OUTPUT_OPTIONS:
        path = getattr(a, name, None)
        if not path or path == "-":
            continue
        target = Path(path)
        folder = target.parent if str(target.parent) else Path(".")
        if target.is_dir():
            raise SlantError(f"--{name} {path}: is a directory, not a file")
        if not folder.is_dir():
            raise SlantError(f"--{name} {path}: the folder {folder} does not exist")
        if not os.access(folder, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
            raise SlantError(f"--{name} {path}: not writable")
    stdout = [f"--{n}" for n in OUTPUT_OPTIONS if getattr(a, n, None) == "-"]
    if len(stdout) > 1:
        raise SlantError(f"{' and '.join(stdout)} both write to stdout ('-'): give one of them a file")


def _write(path: str | None, text: str) -> None:
    """Write a report to a file (saying "wrote FILE" on stderr), or to stdout for '-'; the text ends
    with a newline."""
    if text and not text.endswith("\n"):
        text += "\n"
    if path == "-":
        sys.stdout.write(text)
    elif path:
        try:
            Path(path).write_text(text, encoding="utf-8")
        except OSError as e:
            raise SlantError(f"cannot write {path}: {e.strerror or e}") from None
        print(f"wrote {path}", file=sys.stderr)


def _regression_out(a: argparse.Namespace, res: Any) -> int:
    text = slant.regression_markdown(res)
    if not (a.markdown or a.json or a.junit):
        console.print(text, markup=False, highlight=False)
    _write(a.markdown, text)
    _write(a.json, slant.regression_json(res))
    _write(a.junit, slant.regression_junit(res))
    return res.exit_code


def _baseline(a: argparse.Namespace) -> int:
    db = slant.open_existing(a.db)
    if a.action == "set":
        if not a.run:
            raise SlantError("baseline set needs a run id (`slant runs` lists them)")
        row = slant.pin(db, a.run)
        console.print(f"baseline of campaign {row['campaign']} on {row['target_id']}: run {row['run_id']}")
        return errors.EXIT_OK
    if a.action == "unpin":
        for row in slant.unpin(db, a.run, a.campaign, a.target_id):
            console.print(f"unpinned run {row['run_id']}: campaign {row['campaign']} on {row['target_id']}")
        return errors.EXIT_OK
    rows = slant.pins(db, a.campaign, a.target_id)
    for row in rows:
        console.print(
            f"{row['campaign']} · {row['target_id']} · run {row['run_id']} (pinned {row['pinned']})"
        )
    if not rows:
        console.print(f"no baseline pinned {_scope_words(a.campaign, a.target_id)} in {a.db}")
    return errors.EXIT_OK


def _scope_words(campaign: str | None, target: str | None) -> str:
    """``for campaign nightly on openai/x``: words for whichever is given."""
    words = (f"for campaign {campaign}" if campaign else "") + (f" on {target}" if target else "")
    return words.strip() or "for any campaign"


def _runs(a: argparse.Namespace) -> int:
    from rich.table import Table

    rows = slant.list_runs(slant.open_existing(a.db), a.campaign)
    if a.json:
        _write(a.json, json.dumps([{**r, "baseline": bool(r["baseline"])} for r in rows], indent=2))
        return errors.EXIT_OK
    if not rows:
        console.print(f"no run {f'of campaign {a.campaign} ' if a.campaign else ''}in {a.db}")
        return errors.EXIT_OK
    table = Table(title=f"runs in {a.db}, newest first (times in UTC)", title_justify="left")
    for col in ("run", "campaign", "target", "status", "started", "finished"):
        table.add_column(col)
    table.add_column("probes", justify="right")
    table.add_column("requests", justify="right")
    table.add_column("tokens", justify="right")
    table.add_column("baseline")
    for r in rows:
        started, finished = (str(t or "")[:19].replace("T", " ") for t in (r["started"], r["finished"]))
        table.add_row(
            *(r["id"], r["campaign"], r["target_id"], r["status"], started, finished),
            *(str(r["n_probes"]), str(r["n_requests"]), f"{r['tokens']:,}" if r["tokens"] else ""),
            "pinned" if r["baseline"] else "",
        )
    console.print(table)
    return errors.EXIT_OK


def _diff(a: argparse.Namespace) -> int:
    return _regression_out(a, slant.diff(a.db, a.baseline, a.candidate))


def _audit_scheduled(a: argparse.Namespace) -> int:
    res = slant.audit_scheduled(
        a.campaign,
        date=a.date,
        target=a.target,
        base_url=a.base_url,
        db=a.db,
        progress=not a.no_progress,
        limit=a.limit,
        max_connections=a.max_connections,
        prefill=a.prefill,
    )
    return _regression_out(a, res)


def _history(a: argparse.Namespace) -> int:
    from rich.table import Table

    frame = slant.history(slant.open_existing(a.db), a.campaign, a.metric)
    if a.html:
        _write(a.html, slant.history_html(frame, a.campaign))
    table = Table(title=f"campaign {a.campaign}: runs", title_justify="left")
    cols = ("run", "scope", "started", "status", "gates", "fingerprints")
    for col in cols:
        table.add_column(col)
    for r in slant.history_runs(frame):
        table.add_row(*(str(r[c]) for c in cols))
    console.print(table)
    if len(frame):
        wide = slant.estimates_by_run(frame)
        est = Table(title="estimates per run (oldest first)", title_justify="left")
        est.add_column("estimate")
        for run in wide.columns:
            est.add_column(run, justify="right")
        for key, values in wide.iterrows():
            est.add_row(str(key), *("" if v != v else f"{v:+.3f}" for v in values))
        console.print(est)
    return errors.EXIT_OK


def _batch(a: argparse.Namespace) -> int:
    options = {"target": a.target, "base_url": a.base_url, "db": a.db, "limit": a.limit, "prefill": a.prefill}
    if a.action == "export":
        p, out = slant.export_batch(a.campaign, a.output, **options)
        print(f"wrote {a.output}", file=sys.stderr)
        console.print(
            f"{out.n_requests} requests without a stored reply in {p.db_path} → {out.n_lines} lines",
            markup=False,
        )
        return _notes(out.notes)
    if a.action == "import":
        return _batch_scored(slant.import_batch(a.file, a.campaign, **options), a.file, [])
    if a.action == "submit":
        p, rows, out = slant.submit_batch(a.campaign, a.completion_window, **options)
        for row in rows:
            console.print(f"batch {row['remote_id']} ({row['url']}, {row['n_lines']} lines): {row['status']}")
        if not rows:
            console.print(f"nothing to submit: every request has a reply in {p.db_path} or is in a batch")
        return _notes(out.notes)
    if a.action == "status":
        p, rows = slant.batch_status(a.campaign, **options)
        for row in rows:
            c = row["counts"] or {}
            counts = f", {c.get('completed', 0)} of {c.get('total', 0)} done, {c.get('failed', 0)} failed"
            errors_ = "; ".join(row.get("errors") or [])
            stopped = (
                "" if row["remote_id"] else " (a submit stopped before the batch was made: submit again)"
            )
            console.print(
                f"batch {row['remote_id'] or row['id']} ({row['url']}): {row['status']}{stopped}"
                f"{counts if c else ''}{f' ({errors_})' if errors_ else ''}",
                markup=False,
            )
        if not rows:
            console.print(f"no open batch of campaign {p.campaign.name} in {p.db_path}")
        return errors.EXIT_OK
    got, batches = slant.collect_batch(a.campaign, **options)
    return _batch_scored(got, "the finished batches", batches)


def _notes(notes: list[str]) -> int:
    for note in notes:
        console.print(f"note: {note}", markup=False, highlight=False)
    return errors.EXIT_OK


def _batch_scored(got: Any, source: str, batches: list[dict[str, Any]]) -> int:
    """What an import or collect stored, the report of the run it scored, and what is still missing."""
    kinds = f" ({_failures(got.errors)})" if got.errors else ""
    missing = f", {got.incomplete} left out (their echo lines are missing)" if got.incomplete else ""
    console.print(
        f"from {source}: {got.stored} replies stored, {sum(got.errors.values())} errors stored{kinds}, "
        f"{got.already} already stored{missing} → {got.run.db_path}",
        markup=False,
        highlight=False,
    )
    slant.print_report(slant.open_db(got.run.db_path), got.run.run_id, console)
    waiting = [b for b in batches if b["status"] not in ("completed", "failed", "expired", "cancelled")]
    for b in batches:
        name, why = b["remote_id"] or b["id"], "; ".join(b.get("errors") or [])
        if b in waiting:
            console.print(f"batch {name} is {b['status']}: collect again later", markup=False)
        elif b["status"] != "completed":
            console.print(f"batch {name} {b['status']}{f' ({why})' if why else ''}: the next submit sends "
                          "its unanswered requests again", markup=False)  # fmt: skip
    if got.run.status == "complete" and not waiting:
        return errors.EXIT_OK
    console.print(
        f"[yellow]run {got.run.run_id} is {got.run.status}: requests without a reply (or with an error) "
        "are sent by the next export or submit, or online by `slant run`[/]"
    )
    return errors.EXIT_INCOMPLETE


def _serve_local(a: argparse.Namespace) -> int:
    server = slant.LocalServer(port=a.port).start()
    console.print(f"embedded model '{slant.MODEL_ALIAS}' serving at {server.base_url} (Ctrl-C to stop)")
    console.print(f"use it with: --target openai-compat/{slant.MODEL_ALIAS} --base-url {server.base_url}")
    try:
        while server.proc is not None and server.proc.poll() is None:
            time.sleep(0.5)
        return errors.EXIT_INCOMPLETE  # the server died
    finally:
        server.stop()


def _number(convert: Callable[[str], Any], ok: Callable[[Any], bool], wants: str) -> Callable[[str], Any]:
    """An argparse type: ``convert(value)`` when ``ok`` holds for it, else the error "expected <wants>"."""

    def parse(value: str) -> Any:
        try:
            x = convert(value)
        except ValueError:
            x = None
        if x is None or not ok(x):
            raise argparse.ArgumentTypeError(f"expected {wants}, got {value!r}")
        return x

    return parse


# a count of probes, calls or connections; alpha, power, a rate or a gap in P(yes); a standard deviation
_positive_int = _number(int, lambda n: n >= 1, errors.WHOLE_COUNT)
_fraction = _number(float, lambda x: 0 < x < 1, "a number between 0 and 1 (exclusive)")
_positive = _number(float, lambda x: 0 < x < math.inf, "a number above 0")


ALONE = {"db": "slant.db", "target": "local"}  # defaults of commands with no campaign to take them from


def _shared() -> dict[str, argparse.ArgumentParser]:
    """Options several commands take, each declared once (argparse parent parsers)."""
    shared = {k: argparse.ArgumentParser(add_help=False) for k in ("db", "model", "run", "progress", "out")}
    shared["db"].add_argument(
        "--db", help="database file (run, audit-scheduled: overrides the campaign's; else default slant.db)"
    )
    model = shared["model"]
    model.add_argument(
        "--target",
        help="the model: local, openai/<model>, vllm/<model>, … "
        "(run, audit-scheduled: overrides the campaign's; else default local)",
    )
    model.add_argument(
        "--base-url", help="the model's base URL (run, audit-scheduled: overrides the campaign's)"
    )
    running = shared["run"]  # run and audit-scheduled: how a campaign's run is sent
    running.add_argument(
        "--limit", type=_positive_int, help="at most N probes per probe set (matched sets kept whole)"
    )
    running.add_argument(
        "--prefill",
        choices=["auto", "chatml", "continue", "none"],
        help="how to send the assistant prefill (default: the campaign's, auto)",
    )
    running.add_argument(
        "--max-connections", type=_positive_int, help="concurrent requests (default: the campaign's, 4)"
    )
    shared["progress"].add_argument("--no-progress", action="store_true", help="no progress bar")
    outputs = shared["out"]
    outputs.add_argument("--markdown", metavar="PATH", help="write the check as Markdown ('-' for stdout)")
    outputs.add_argument("--json", metavar="PATH", help="write the check as JSON ('-' for stdout)")
    outputs.add_argument("--junit", metavar="PATH", help="write the gates as JUnit XML ('-' for stdout)")
    return shared


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="slant", description="Audit language models for preference and bias.")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    p.add_argument("--version", action="version", version=f"slant {importlib.metadata.version('slant')}")
    sub = p.add_subparsers(dest="command", required=True)
    shared = _shared()
    db, model, running, progress, outputs = (shared[k] for k in ("db", "model", "run", "progress", "out"))

    r = sub.add_parser(
        "run",
        parents=[model, db, running, progress],
        help="run or resume a campaign, then print the per-group table",
    )
    r.add_argument("campaign", help="campaign YAML file, or a shipped campaign's name (quickstart, …)")
    r.add_argument(
        "--dry-run", action="store_true", help="count probes and calls per probe set; send nothing"
    )
    r.add_argument("--fresh", action="store_true", help="new cache scope: a new run that reuses nothing")
    for kind in ("prompt", "completion", "cached"):
        r.add_argument(
            f"--price-{kind}",
            type=_number(float, lambda x: 0 <= x < math.inf, "a number of at least 0"),
            metavar="USD",
            help=f"USD per 1M {kind} tokens (overrides the campaign's prices)",
        )
    r.set_defaults(func=_run, from_campaign=True)

    rs = sub.add_parser("runs", parents=[db], help="list the runs in a database, newest first")
    rs.add_argument("--campaign", help="only this campaign's runs")
    rs.add_argument(
        "--json", nargs="?", const="-", metavar="PATH", help="write the list as JSON (default: stdout)"
    )
    rs.set_defaults(func=_runs)

    rep = sub.add_parser(
        "report", parents=[db], help="report a stored run: terminal tables, JSON, Markdown or HTML"
    )
    rep.add_argument("run", nargs="?", help="run id or a unique prefix (default: the latest run)")
    rep.add_argument("--json", metavar="PATH", help="write the run's numbers as JSON ('-' for stdout)")
    rep.add_argument("--markdown", metavar="PATH", help="write the report as Markdown ('-' for stdout)")
    rep.add_argument("--html", metavar="PATH", help="write a self-contained HTML report with plots")
    rep.set_defaults(func=_report)

    se = sub.add_parser(
        "search",
        parents=[model, db],
        help="search a campaign's decision scenarios for where gaps are largest; confirm on fresh probes",
    )
    se.add_argument("campaign", help="campaign YAML file with a decision probe set, or a shipped name")
    se.add_argument("--budget", type=_positive_int, required=True, help="model calls, search + confirmation")
    se.add_argument("--seed", type=int, default=0, help="seeds every draw (default 0)")
    se.add_argument("--sets", type=_positive_int, default=3, help="matched sets per variant (default 3)")
    se.add_argument("--confirm", type=_positive_int, default=3, help="findings to confirm (default 3)")
    se.add_argument(
        "--confirm-sets", type=_positive_int, default=8, help="fresh matched sets per finding (default 8)"
    )
    se.add_argument("--alpha", type=_fraction, default=0.05, help="family-wise error rate (default 0.05)")
    se.add_argument("--rewrite-with", metavar="TARGET", help="a model good enough to reword scenarios")
    se.add_argument("--rewrite-base-url", help="that model's base URL")
    se.add_argument("--markdown", metavar="PATH", help="write the report here (default: stdout)")
    se.set_defaults(func=_search, from_campaign=True)

    sr = sub.add_parser("search-report", parents=[db], help="rebuild a stored search's report")
    sr.add_argument("search", nargs="?", help="search id (default: the latest search)")
    sr.add_argument("--markdown", metavar="PATH", help="write the report here (default: stdout)")
    sr.set_defaults(func=_search_report)

    ref = sub.add_parser("refusals", help="label texts from a JSONL or CSV file (field 'text') as refusals")
    ref.add_argument("file")
    ref.add_argument("-o", "--output", help="JSONL output file (default: stdout)")
    ref.add_argument(
        "--policy",
        choices=slant.REFUSAL_POLICIES,
        default=slant.DEFAULT_REFUSAL_POLICY,
        help="learned (default): the shipped classifier with the rules, adds refusal_confidence; xstest: the "
        "rules (an answer after a disclaimer is compliance); strict: the rules, such an answer partial",
    )
    ref.set_defaults(func=_refusals)

    sc = sub.add_parser(
        "score",
        help="score replies collected elsewhere as a family's paper does (JSONL or CSV in, JSONL out)",
    )
    sc.add_argument("family", choices=slant.RESCORE_FAMILIES, help="the probe family the replies answer")
    sc.add_argument("file", help="JSONL or CSV file, one reply per row (fields: see README)")
    sc.add_argument(
        "--pack",
        help="iat, pairwise: the pack the replies answer, a YAML file or a shipped name (default: each "
        "row's pack field)",
    )
    sc.add_argument("--field", default="reply", help="the field/column holding the reply (default: reply)")
    sc.add_argument("-o", "--output", help="JSONL output file (default: stdout)")
    sc.set_defaults(func=_score)

    j = sub.add_parser(
        "judge",
        parents=[db, model, progress],
        help="label a run's replies with an LLM refusal judge; compare with the rules",
    )
    j.add_argument("run", nargs="?", help="run id or a unique prefix (default: the latest run)")
    j.add_argument("--limit", type=_positive_int, help="judge at most N replies")
    j.add_argument(
        "--repeats",
        type=_positive_int,
        default=1,
        help="judge each reply N times, the label definitions in another order each time (default 1)",
    )
    j.add_argument(
        "--seed", type=int, default=0, help="sent with every judge call; orders the definitions (default 0)"
    )
    j.set_defaults(func=_judge)

    pl = sub.add_parser("plan", help="how many matched sets / responses an audit needs (power analysis)")
    pl.add_argument(
        "campaign",
        nargs="?",
        help="a campaign: do its decision sets have the scenarios the mixed model needs?",
    )
    pl.add_argument("--gap", type=_fraction, help="P(yes) gap to detect, e.g. 0.02")
    pl.add_argument("--sd", type=_positive, default=0.05, help="sd of per-set differences (default 0.05)")
    pl.add_argument("--rate", type=_fraction, default=0.1, help="reference rate for a rate gap (default 0.1)")
    pl.add_argument("--rate-gap", type=_fraction, help="rate gap to detect, e.g. 0.05 (refusal rates)")
    pl.add_argument("--alpha", type=_fraction, default=0.05, help="significance level (default 0.05)")
    pl.add_argument("--power", type=_fraction, default=0.8, help="power (default 0.8)")
    pl.set_defaults(func=_plan)

    b = sub.add_parser("browse", parents=[db], help="open the database in datasette with canned queries")
    b.add_argument("--port", type=int, default=8001, help="port (default 8001)")
    b.add_argument("--no-open", action="store_true", help="do not open a web browser")
    b.set_defaults(func=_browse)

    pr = sub.add_parser("probes", help="list the probe families and the fields their probe sets take")
    pr.set_defaults(func=_probes)

    dl = sub.add_parser("data", help="released benchmark data sets: download your copy")
    dlsub = dl.add_subparsers(dest="data_command", required=True)
    dld = dlsub.add_parser("download", help="fetch a data set's released files from its canonical source")
    dld.add_argument("name", help="the data set (slant probes lists them)")
    dld.add_argument("dest", help="the folder to write its files to")
    dld.set_defaults(func=_data_download)

    inf = sub.add_parser(
        "infer",
        parents=[model, db],
        help="infer a user's writing preferences from samples; store the profile",
    )
    inf.add_argument("samples", help="a folder of .txt/.md samples or a JSONL file (field 'text')")
    inf.add_argument("--user", required=True, help="whose samples these are")
    inf.add_argument(
        "--method",
        default="prose",
        choices=["prose", "prose-icl", "cipher-1", "cipher-n", "cipher-k", "icl"],
        help="inference method (default: prose)",
    )
    inf.add_argument("--task", default="", help="what the samples are, e.g. email (the components' scope)")
    inf.add_argument("--steps", type=int, default=3, help="PROSE refinement steps per sample (default 3)")
    inf.add_argument(
        "--k", type=int, default=5, help="earlier samples used to verify / as examples (default 5)"
    )
    inf.add_argument(
        "--tau", type=float, default=0.5, help="keep components whose mean verdict exceeds this (default 0.5)"
    )
    inf.add_argument("--yes", action="store_true", help="confirm every proposed component without asking")
    inf.set_defaults(func=_infer)

    gen = sub.add_parser("generate", help="write probe packs with a model: decision scenarios or personas")
    gsub = gen.add_subparsers(dest="what", required=True)
    gs = gsub.add_parser(
        "scenarios",
        parents=[model, db],
        help="draft scenarios from a brief, verify them, review, write a pack",
    )
    gs.add_argument("--brief", required=True, help='what to write, e.g. "decisions a lender makes"')
    gs.add_argument("--n", type=int, default=5, help="decision topics to draft (default 5)")
    gs.add_argument("--out", required=True, help="the pack file to write, e.g. scenarios/decisions/x.yaml")
    gs.add_argument("--kind", default="decision", choices=["decision", "pairwise"], help="probe family")
    gs.add_argument("--retries", type=int, default=2, help="redrafts of a topic after a failed check")
    gs.add_argument("--max-tokens", type=int, default=160, help="length limit of one draft (default 160)")
    gs.add_argument("--no-judge", action="store_true", help="skip the model's institution check")
    gs.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    gs.add_argument("--yes", action="store_true", help="accept every verified draft without asking")
    gs.set_defaults(func=_generate_scenarios)

    gp = gsub.add_parser(
        "personas",
        parents=[model, db],
        help="persona and usage packs from a profile, samples or a demographic spec",
    )
    src = gp.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--from-profile", metavar="USER", help="a stored preference profile (slant infer) in --db"
    )
    src.add_argument(
        "--from-samples", metavar="FILE", help="writing samples (a folder or JSONL), with --user"
    )
    src.add_argument(
        "--spec",
        action="append",
        help="stated identities, one axis per --spec (repeatable), crossed: "
        "--spec gender=woman,man --spec age=30,70 (4 personas)",
    )
    gp.add_argument("--user", help="whose samples (with --from-samples)")
    gp.add_argument("--method", default="prose", help="the profile's inference method (default: prose)")
    gp.add_argument("--out", required=True, help="the persona pack to write")
    gp.add_argument("--usage-out", help="the usage pack to write (default: <out>-usage.yaml)")
    gp.add_argument("--n", type=int, default=10, help="samples to pair with plain rewrites (default 10)")
    gp.add_argument("--retries", type=int, default=2, help="redrafts of a rewrite after a failed check")
    gp.add_argument("--force", action="store_true", help="overwrite existing packs")
    gp.add_argument("--yes", action="store_true", help="write the verified packs without asking")
    gp.set_defaults(func=_generate_personas)

    bl = sub.add_parser(
        "baseline",
        parents=[db],
        help="pin a run as the baseline of its campaign and target, list the pins, or unpin",
    )
    bl.add_argument("action", choices=["set", "show", "unpin"])
    bl.add_argument("run", nargs="?", help="run id or a unique prefix (set; unpin: the pin of this run)")
    bl.add_argument("--campaign", help="show or unpin this campaign's baselines")
    bl.add_argument(  # a filter (a target id), not a model to call
        "--target", dest="target_id", help="show or unpin the baselines of this target id"
    )
    bl.set_defaults(func=_baseline)

    d = sub.add_parser(
        "diff",
        parents=[outputs, db],
        help="compare a run with a baseline (paired, per probe) and judge the campaign's gates",
        description="Exit codes: 0 every gate passes, 1 a gate failed, 3 the candidate run is incomplete "
        "or unusable.",
    )
    d.add_argument("baseline", nargs="?", help="baseline run id or prefix (default: the pinned baseline)")
    d.add_argument("candidate", nargs="?", help="candidate run id or prefix (default: the latest run)")
    d.set_defaults(func=_diff)

    sch = sub.add_parser(
        "audit-scheduled",
        parents=[outputs, model, db, running, progress],
        help="run a campaign for today, diff it against the pinned baseline, judge the gates",
        description="Idempotent per day (cache scope campaign@date). Exit codes: 0 pass, 1 a gate failed, "
        "3 the run is incomplete or unusable.",
    )
    sch.add_argument("campaign", help="campaign YAML file")
    sch.add_argument("--date", help="the audit's day (default: today, UTC), e.g. 2026-11-23")
    sch.set_defaults(func=_audit_scheduled, from_campaign=True)

    h = sub.add_parser("history", parents=[db], help="a campaign's runs and watched estimates over time")
    h.add_argument("campaign", help="campaign name")
    h.add_argument("--metric", action="append", help="metric to follow (repeatable; default: the gates')")
    h.add_argument("--html", metavar="PATH", help="write the history as an HTML page with plots")
    h.set_defaults(func=_history)

    bt = sub.add_parser(
        "batch", help="a campaign's requests through a batch engine (OpenAI Batch API, vLLM …)"
    )
    bsub = bt.add_subparsers(dest="action", required=True)
    batch = [model, db, running]
    be = bsub.add_parser("export", parents=batch, help="write the unsent requests as OpenAI batch JSONL")
    be.add_argument("campaign", help="campaign YAML file")
    be.add_argument("-o", "--output", required=True, help="the JSONL file to write")
    bi = bsub.add_parser("import", parents=batch, help="store a batch output file's replies and score")
    bi.add_argument("file", help="a batch output file (OpenAI Batch API, vllm run-batch …)")
    bi.add_argument("campaign", nargs="?", help="campaign YAML file (default: the one that exported it)")
    bs = bsub.add_parser("submit", parents=batch, help="send the unsent requests to the target's Batch API")
    bs.add_argument("campaign", help="campaign YAML file")
    bs.add_argument("--completion-window", default="24h", help="the batches' completion window (24h)")
    for action, what in (
        ("status", "how the submitted batches stand"),
        ("collect", "store finished batches"),
    ):
        bc = bsub.add_parser(action, parents=batch, help=what)
        bc.add_argument("campaign", help="campaign YAML file")
    bt.set_defaults(func=_batch, from_campaign=True)

    s = sub.add_parser("serve-local", help="keep the embedded model's server running and print its URL")
    s.add_argument("--port", type=int, help="port (default: a free one)")
    s.set_defaults(func=_serve_local)
    for command in [
        *sub.choices.values(),
        *gsub.choices.values(),
        *bsub.choices.values(),
    ]:  # `slant run x.yaml --debug` too
        command.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks"
        )
    return p


def _parse(argv: list[str] | None) -> argparse.Namespace:
    """The command line's arguments; a command without a campaign takes slant.db and the local model."""
    args = parser().parse_args(argv)
    if not getattr(args, "from_campaign", False):
        for name, value in ALONE.items():
            if getattr(args, name, value) is None:
                setattr(args, name, value)
    return args


_TERMINATED: list[int] = []  # set by the SIGTERM handler: the interrupt that follows exits 143, not 130


def _terminated(signum: int, frame: object) -> None:
    """SIGTERM ends slant as Ctrl-C does: a running event loop has its tasks cancelled (the engine
    flushes what it has, child servers stop), otherwise KeyboardInterrupt is raised here."""
    _TERMINATED.append(signum)
    loop = asyncio._get_running_loop()
    if loop is None:
        raise KeyboardInterrupt
    for task in asyncio.all_tasks(loop):
        task.cancel()


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminated) if in_main_thread else None
    _TERMINATED.clear()
    try:
        _check_outputs(args)
        return args.func(args)
    except BrokenPipeError:  # `slant report --json - | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return errors.EXIT_OK
    except SlantError as e:
        if args.debug:
            raise
        print(f"slant: error: {e}", file=sys.stderr)
        return e.exit_code
    except (KeyboardInterrupt, asyncio.CancelledError):
        how = "terminated (SIGTERM)" if _TERMINATED else "interrupted"
        # a connection cancelled while opening leaves a coroutine that warns when collected at exit
        warnings.filterwarnings("ignore", "coroutine .* was never awaited", RuntimeWarning)
        print(f"slant: {how}; finished calls are saved, rerun the same command to resume", file=sys.stderr)
        return errors.EXIT_TERMINATED if _TERMINATED else errors.EXIT_INTERRUPTED
    except Exception as e:  # a bug: one line and exit 4, never exit 1 (which means "a gate failed")
        if args.debug:
            raise
        print(f"slant: internal error: {errors.one_line(e)}; --debug shows the traceback", file=sys.stderr)
        return errors.EXIT_INTERNAL
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
