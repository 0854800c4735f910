"""Cost you can see: token counts per call, run, probe set and agent node; dry-run estimates with the
target's tokenizer or a stated approximation; prices; budgets that stop sending and resume when raised;
cost saved by adaptive stopping and logprob reads."""

from __future__ import annotations

import json

import pytest
import yaml
from conftest import SCENARIOS, write_campaign
from openai_server import FakeOpenAIServer

from slant import audit, open_db
from slant.agents.gateway import Gateway
from slant.cli import main
from slant.cost import scope_tokens
from slant.errors import EXIT_BAD_INPUT, EXIT_INCOMPLETE, EXIT_OK
from slant.plan import plan, requests_of
from slant.spec import load_campaign
from slant.targets import resolve_target
from slant.targets.openai_compat import render_chatml

PRICES = {"prompt": 2.0, "completion": 8.0, "cached": 0.5}  # USD per 1M tokens


def served_usage(server: FakeOpenAIServer) -> tuple[int, int]:
    """Prompt and completion tokens of every answered call, as the fake server counts them."""
    prompts = [r["body"].get("prompt") or json.dumps(r["body"]["messages"]) for r in server.received]
    return sum(len(p.split()) for p in prompts), len(prompts)


def rendered(campaign, base_url: str) -> list[str]:
    """Every planned request's prompt, written out as the estimate counts it."""
    c = load_campaign(campaign)
    requests = requests_of(plan(c, resolve_target(c.target, base_url)))
    return [render_chatml(r.messages, r.prefill) for r in requests.values()]


def test_tokens_per_call_run_and_probe_set_with_cached_tokens(tmp_path, server, capsys):
    server.cached_tokens = 5
    campaign = write_campaign(tmp_path, prices=PRICES)
    result = audit(campaign, base_url=server.base_url, progress=False)
    db = open_db(result.db_path)
    usages = [json.loads(r["usage"]) for r in db.query("select usage from responses")]
    assert len(usages) == 48 and all(u["cached_tokens"] == 5 for u in usages)
    prompt, calls = served_usage(server)
    total = result.tokens["total"]
    assert (total["prompt"], total["completion"], total["cached"], total["calls"]) == (prompt, 48, 240, 48)
    assert total["usd"] == pytest.approx(((prompt - 240) * 2.0 + 240 * 0.5 + 48 * 8.0) / 1e6)
    assert result.tokens["by_set"]["decisions"] == total
    stored = json.loads(db.table("runs").get(result.run_id)["tokens"])
    assert stored["total"] == total
    capsys.readouterr()
    assert main(["report", "--db", str(result.db_path), "--markdown", "-"]) == EXIT_OK
    markdown = capsys.readouterr().out
    assert f"- tokens: {prompt:,} prompt (240 cached) + 48 completion = {prompt + 48:,} tokens" in markdown
    # logprob reads against sampling, from the stored numbers: 10 samples of the prompt, 8 tokens each
    saved = next(s for s in stored["saved"] if s["kind"] == "logprobs")
    assert saved["sampled"]["prompt"] == 10 * prompt and saved["sampled"]["completion"] == 10 * 8 * 48
    assert "assumes no prompt caching" in saved["text"]
    assert main(["runs", "--db", str(result.db_path), "--json", "-"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)[0]["tokens"] == prompt + 48


@pytest.mark.parametrize("endpoint", ["/extras/tokenize/count", "/tokenize"])
def test_dry_run_counts_prompt_tokens_with_the_servers_tokenizer(tmp_path, server, capsys, endpoint):
    server.tokenize = endpoint  # llama-cpp-python's, vLLM's
    campaign = write_campaign(tmp_path, prices=PRICES)
    assert main(["run", str(campaign), "--base-url", server.base_url, "--dry-run"]) == EXIT_OK
    out = capsys.readouterr().out
    texts = rendered(campaign, server.base_url)
    words = sum(len(t.split()) for t in texts)  # the fake tokenizer: one token per word
    usd = (words * 2.0 + 48 * 8.0) / 1e6
    assert (
        f"estimated tokens of 48 calls: {words:,} prompt + ≤ 48 completion = ≤ {words + 48:,} tokens" in out
    )
    assert f"≈ ${usd:.4g}" in out and f"counted with the server's tokenizer ({endpoint}" in out
    assert sorted(server.tokenized) == sorted(texts) and server.n_completions == 0


def test_dry_run_without_a_tokenizer_says_it_approximates(tmp_path, server, capsys):
    campaign = write_campaign(tmp_path)
    args = ["run", str(campaign), "--base-url", server.base_url, "--dry-run"]
    assert main([*args, "--price-prompt", "1", "--price-completion", "4"]) == EXIT_OK
    out = capsys.readouterr().out
    chars = sum(len(t) for t in rendered(campaign, server.base_url))
    approx = round(chars / 4)
    assert f"{approx:,} prompt + ≤ 48 completion" in out and "approximated as characters / 4" in out
    assert f"≈ ${(approx * 1 + 48 * 4) / 1e6:.4g}" in out
    assert server.n_completions == 0 and not server.tokenized


def test_a_budget_stops_sending_and_a_raised_budget_resumes(tmp_path, server, capsys):
    campaign = write_campaign(tmp_path, budget={"tokens": 3000})
    args = ["run", str(campaign), "--base-url", server.base_url, "--no-progress"]
    assert main(args) == EXIT_INCOMPLETE
    out = capsys.readouterr().out
    assert "budget 3,000 tokens reached: the next call" in out and "not sent (not errors)" in out
    assert "calls failed" not in out
    db = open_db(tmp_path / "audit.db")
    sent = server.n_completions
    prompt, _ = served_usage(server)
    assert 0 < sent < 48 and prompt + sent <= 3000  # never passed, though calls were in flight at once
    assert (
        db.table("responses").count == sent
        and db.table("responses").count_where("error_kind is not null") == 0
    )
    run = db.execute("select id, status from runs").fetchone()
    assert run[1] == "incomplete"
    assert db.table("outcomes").count_where("run_id = ?", [run[0]]) == sent  # unsent: not answers

    assert main(args) == EXIT_INCOMPLETE  # the same budget: nothing more is sent
    assert server.n_completions == sent and "budget 3,000 tokens reached" in capsys.readouterr().out

    data = yaml.safe_load(campaign.read_text())
    data["budget"] = {"tokens": 100_000}
    campaign.write_text(yaml.safe_dump(data))
    assert main(args) == EXIT_OK
    assert server.n_completions == 48  # only the calls not sent before
    assert db.execute("select status from runs").fetchone()[0] == "complete"


def test_a_usd_budget_uses_the_prices(tmp_path, server):
    prices = {"prompt": 100.0, "completion": 100.0}  # $0.0001 per token: $0.2 is 2,000 tokens
    campaign = write_campaign(tmp_path, prices=prices, budget={"usd": 0.2})
    result = audit(campaign, base_url=server.base_url, progress=False)
    assert result.status == "incomplete" and result.engine.over_budget > 0
    assert result.tokens["total"]["usd"] <= 0.2 and "budget $0.2 reached" in result.tokens["stopped"]


@pytest.mark.parametrize(
    ("top", "field"),
    [
        ({"prices": {"prompt": -1, "completion": 1}}, "prices.prompt"),
        ({"prices": {"prompt": 1}}, "prices.completion"),
        ({"prices": {"prompt": 1, "completion": 1, "output": 2}}, "prices.output"),
        ({"budget": {}}, "budget"),
        ({"budget": {"tokens": 0}}, "budget.tokens"),
        ({"budget": {"tokens": "many"}}, "budget.tokens"),
        ({"budget": {"usd": 1}}, "budget.usd"),  # no prices to count dollars with
    ],
)
def test_bad_prices_and_budgets_are_refused_before_any_call(tmp_path, server, capsys, top, field):
    campaign = write_campaign(tmp_path, **top)
    assert main(["run", str(campaign), "--base-url", server.base_url]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"slant: error: {campaign}: {field}: ") and "\n" not in err
    assert server.n_completions == 0


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (
            ["--price-prompt", "-1", "--price-completion", "1"],
            "--price-prompt: expected a number of at least 0",
        ),
        (["--price-prompt", "1"], "--price-completion is needed with the other --price-* options"),
    ],
)
def test_bad_price_options_are_refused(tmp_path, server, capsys, options, says):
    campaign = write_campaign(tmp_path)
    try:
        code = main(["run", str(campaign), "--base-url", server.base_url, "--dry-run", *options])
    except SystemExit as e:  # argparse's own errors
        code = e.code
    assert code == EXIT_BAD_INPUT and says in capsys.readouterr().err and server.n_completions == 0


def test_adaptive_stopping_is_shown_as_calls_and_tokens_saved(tmp_path):
    gender_only = {
        "scenarios": [str(SCENARIOS / "decisions" / "*.yaml")],
        "demographics": {"age": [40], "gender": ["male", "female"], "race": ["white"]},
    }
    adaptive = {"looks": 3, "alpha": 0.05}
    with FakeOpenAIServer(shift={"woman": -0.3}) as server:
        campaign = write_campaign(tmp_path, gender_only, adaptive=adaptive, prices=PRICES)
        result = audit(campaign, base_url=server.base_url, progress=False)
    asked = result.tokens["by_set"]["decisions"]
    saved = next(s for s in result.tokens["saved"] if s["kind"] == "adaptive")
    skipped = 36 - result.n_requests
    assert skipped > 0 and saved["calls"] == skipped
    assert saved["prompt"] == round(skipped * asked["prompt"] / asked["calls"])
    assert saved["completion"] == round(skipped * asked["completion"] / asked["calls"])
    assert saved["text"].startswith(
        f"adaptive stopping skipped {skipped} calls ≈ {saved['total']:,} tokens ≈ $"
    )


def test_agent_nodes_count_their_tokens(tmp_path, server):
    db = tmp_path / "agents.db"
    with Gateway("openai-compat/fake", db, base_url=server.base_url) as llm:
        llm.ask("draft", (("user", "write one short scenario about a loan"),), max_tokens=4)
        llm.ask_many("judge", [((("user", f"is draft {i} fine?"),), None) for i in range(3)], max_tokens=2)
        ledger = llm.ledger
    by_scope = scope_tokens(open_db(db), "preference:")
    assert set(by_scope) == {"preference:draft", "preference:judge"}
    assert ledger.by_node["judge"] == by_scope["preference:judge"] and ledger.by_node["judge"].calls == 3
    prompt, calls = served_usage(server)
    assert ledger.tokens == prompt + calls  # one completion token per fake reply
    assert ledger.token_text().startswith("tokens: draft ") and "; judge " in ledger.token_text()


def test_a_large_plan_counts_a_spread_sample_and_scales_by_characters(tmp_path, server, capsys, monkeypatch):
    monkeypatch.setattr("slant.cost.SAMPLE", 10)  # as a plan of more than 1,000 prompts per probe set
    server.tokenize = "/tokenize"
    campaign = write_campaign(tmp_path)
    result = audit(campaign, base_url=server.base_url, dry_run=True)
    texts = rendered(campaign, server.base_url)
    sample = texts[::5]  # 48 prompts, every 5th: 10 counted
    expected = round(sum(len(t.split()) for t in sample) / sum(len(t) for t in sample) * sum(map(len, texts)))
    assert sorted(server.tokenized) == sorted(sample) and result.tokens["total"]["prompt"] == expected
    assert "for 10 of 48 prompts, the rest scaled by characters" in result.tokens["method"]
