#!/usr/bin/env python
"""Benchmark: the lazy guarantee cascade against the eager one on the platform (issue 18).

One project, built twice on two fresh databases of one PostgreSQL (so pair ids, the blind audit
draw and the calibration halves are the same in both, and neither run's judge-call cache answers
the other's calls). `--calibration` pairs are all audited (policy version 1, audit rate 1), get a
human label (the truth, imported as a `pairs` file with `label`) and are judged by both judges;
then `--new` pairs arrive and policy version 2 (audit rate 5%) routes them.

The judges. `cheap`: stored verdicts (no import format carries a custom judge's probabilities,
so they are written as Judgment rows, as a replayed judge leaves them), $0.0001 a call: sure
(p 0.95) and right on 60% of pairs, sure and wrong on 5%, unsure (p 0.6) on 35% and right on
half of those. `strong`: a judge of the `openai` backend behind a local OpenAI-compatible
endpoint (tests/openai_endpoint.py: the HTTP is fake, the judge's client is real), priced like
GPT-4 ($30 / $60 per 1M tokens); it prefers the longer response, which is the right one on 99%
of pairs, and on a further 3% of pairs it answers with position-biased logprobs (a tie once
both orders are read). Humans answer
the truth. The truth and the cheap verdicts are seeded per pair.

The flows, through the management commands a user runs:
  lazy:  route (the cheap judge decides what it can; the rest wait for `strong`)
         -> judge --judge strong --escalated (only the waiting and audit pairs) -> route
  eager: judge --judge strong (every pair) -> route
Printed: calls to the strong judge (counted by the endpoint) and its spend on the new batch,
pairs sent to humans, agreement of the kept AI labels with the truth, and whether every pair's
final decision (to humans or not, blind or not, which judge) is the same; lazy beside eager with
their ratio. Each flow runs in a process of its own (its own DATABASE_URL).

    .venv/bin/python bench/lazy_cascade.py [--calibration 1000] [--new 3000]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "platform", ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from tests.openai_endpoint import API_KEY, MODEL, FakeOpenAI  # noqa: E402

PROJECT = "lazy-bench"
CHEAP_COST = 0.0001  # $ per stored cheap verdict (one order)
STRONG_PRICES = {"input": 30.0, "output": 60.0}  # $ per 1M tokens: GPT-4 (8K), bench/guarantee.py's PRICES
AUDIT_RATE = 0.05
ROUTING = {"target_agreement": 0.9, "confidence": 0.9, "cascade": ["cheap", "strong"], "min_slice": 100_000}


# -- the world -----------------------------------------------------------------------------------


def world(i: int) -> tuple[str, tuple[float, str], str, bool]:
    """Pair i: (the right response, the cheap judge's (confidence, choice), the endpoint's
    scenario for the strong judge, whether the longer response is the right one). Seeded per pair,
    so both flows see the same world."""
    rng = random.Random(f"lazy:{i}")
    right = "a" if rng.random() < 0.5 else "b"
    wrong = "b" if right == "a" else "a"
    u = rng.random()
    if u < 0.60:
        cheap = (0.95, right)
    elif u < 0.65:
        cheap = (0.95, wrong)
    else:
        cheap = (0.6, right if rng.random() < 0.5 else wrong)
    scenario = "logprobs" if rng.random() < 0.03 else "longer"
    return right, cheap, scenario, rng.random() < 0.99


def rows(start: int, n: int, labelled: bool) -> list[dict]:
    """Pairs start..start+n as `pairs`-format rows (with the truth as a human label if `labelled`)."""
    out = []
    for i in range(start, start + n):
        right, _, scenario, longer_right = world(i)
        long_text, short = f"a full and careful answer, number {i:06d}", f"brief {i:06d}"
        longer = right if longer_right else ("b" if right == "a" else "a")
        a, b = (long_text, short) if longer == "a" else (short, long_text)
        row = {"prompt": f"SCENARIO={scenario} question {i}", "response_a": a, "response_b": b}
        if labelled:
            row |= {"label": right, "annotator": "expert"}
        out.append(row)
    return out


# -- one flow, in its own process ----------------------------------------------------------------


def run_flow(flow: str, calibration: int, new: int, workdir: Path) -> dict:
    """Build the project, run `flow` on its new batch; returns the flow's figures and decisions."""
    import django

    django.setup()
    from django.core.management import call_command

    from tandem.core import services
    from tandem.core.models import HumanLabel, Judgment, Pair, RoutingDecision

    def command(name: str, **options) -> dict:
        sink = io.StringIO()
        call_command(name, project=PROJECT, json=True, stdout=sink, **options)
        return json.loads(sink.getvalue().strip().splitlines()[-1])

    def import_rows(name: str, batch: list[dict]) -> None:
        path = workdir / f"{flow}-{name}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in batch))
        services.import_pairs(project, path, "pairs")

    def add_batch(start: int, n: int) -> dict[int, int]:
        """Import pairs start..start+n with the cheap judge's stored verdicts; {pair id: index}."""
        import_rows(f"b{start}", rows(start, n, labelled=False))
        stored = Pair.objects.filter(project=project).values_list("pk", "prompt")
        pairs = {pk: int(prompt.rsplit(" ", 1)[1]) for pk, prompt in stored}
        pairs = {pk: i for pk, i in pairs.items() if start <= i < start + n}
        verdicts = []
        for pk, i in pairs.items():
            confidence, choice = world(i)[1]
            p_a = confidence if choice == "a" else 1 - confidence
            for order, p_first, first, second in (("ab", p_a, "a", "b"), ("ba", 1 - p_a, "b", "a")):
                verdicts.append(
                    Judgment(
                        pair_id=pk,
                        judge="cheap",
                        config_hash="stored",
                        backend="replay",
                        order=order,
                        p_first=p_first,
                        choice=first if p_first > 0.5 else second,
                        status="ok",
                        cost=CHEAP_COST,
                    )
                )
        Judgment.objects.bulk_create(verdicts, batch_size=5000)
        return pairs

    def set_policy(version: int, audit_rate: float) -> None:
        project.routing_config = {
            # The generated texts ("a full and careful answer, number 001234") trip the injection
            # classifier on about 39% of pairs, which would go to people in both flows whatever the
            # cascade says: this measures the cascade.
            "policy": {
                "version": version,
                "audit_rate": audit_rate,
                "price_per_label": 0.67,
                "route_injection": False,
            },
            **ROUTING,
        }
        project.save()

    call_command("migrate", verbosity=0)
    project = services.create_project(PROJECT)
    strong = {"max_retries": 1, "timeout_s": 10.0, "concurrency": 16, "prices": {MODEL: STRONG_PRICES}}
    project.judge_config = {"judges": {"strong": {"backend": "openai", "model": MODEL, "params": strong}}}
    set_policy(1, 1.0)
    index = add_batch(0, calibration)
    command("route")  # every calibration pair is audited (blind)
    import_rows("labels", rows(0, calibration, labelled=True))  # the audit's human labels
    labelled = HumanLabel.objects.filter(pair__project=project).count()
    if labelled != calibration:  # the calibration would be on fewer pairs than asked
        raise SystemExit(f"{flow}: {labelled} human labels stored for {calibration} calibration pairs")
    command("judge", judge="strong")
    new_pairs = add_batch(calibration, new)
    index |= new_pairs

    set_policy(2, AUDIT_RATE)
    start = time.perf_counter()
    if flow == "lazy":
        first = command("route")
        judged = command("judge", judge="strong", escalated=True)
        report = command("route")
        waiting = sum(w["pairs"] for w in first.get("waiting", {}).values())
    else:
        judged = command("judge", judge="strong")
        report = command("route")
        waiting = 0
    seconds = time.perf_counter() - start

    decisions = {}
    for d in RoutingDecision.objects.filter(pair__project=project, policy__version=2).order_by("id"):
        decisions[index[d.pair_id]] = (d.human, d.blind, list(d.judges))
    kept = {pk: d[2][0] for pk, d in ((pk, decisions[i]) for pk, i in new_pairs.items()) if not d[0]}
    stored = Judgment.objects.filter(pair_id__in=list(kept), order="ab")
    choices = {(pk, judge): choice for pk, judge, choice in stored.values_list("pair_id", "judge", "choice")}
    agree = sum(choices[(pk, judge)] == world(new_pairs[pk])[0] for pk, judge in kept.items())
    return {
        "seconds": seconds,
        "waiting": waiting,
        "strong_calls": judged["calls"],
        "strong_cost": judged["cost"],
        "humans": sum(decisions[i][0] for i in new_pairs.values()),
        "ai": len(kept),
        "kept_by_cheap": sum(judge == "cheap" for judge in kept.values()),
        "agree": agree,
        "cost_per_label": report.get("cost_per_label"),
        "decisions": {str(i): d for i, d in decisions.items()},
    }


# -- the parent: PostgreSQL, the endpoint, both flows ----------------------------------------------


def flow_in_process(flow: str, args, db_url: str, base_url: str, workdir: Path) -> dict:
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "DJANGO_SETTINGS_MODULE": "tandem.settings.base",
        "TANDEM_VAR_DIR": str(workdir / "var"),
        "TANDEM_LOG_LEVEL": "ERROR",  # the calibration route warns that nothing is labelled yet
        "OPENAI_BASE_URL": base_url,
        "OPENAI_API_KEY": API_KEY,
        "PYTHONPATH": f"{ROOT / 'platform'}:{ROOT}",
    }
    command = [sys.executable, __file__, "--flow", flow, "--calibration", str(args.calibration),
               "--new", str(args.new), "--workdir", str(workdir)]  # fmt: skip
    done = subprocess.run(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def print_table(lazy: dict, eager: dict, lazy_calls: int, eager_calls: int, new: int) -> None:
    same = sum(lazy["decisions"][k] == eager["decisions"].get(k) for k in lazy["decisions"])
    ratio = lambda a, b: f"{a / b:.1%}" if b else "-"  # noqa: E731
    agreement = lambda f: f"{f['agree']}/{f['ai']} ({f['agree'] / max(f['ai'], 1):.1%})"  # noqa: E731
    rows = [
        ("strong judge calls", lazy_calls, eager_calls, ratio(lazy_calls, eager_calls)),
        ("strong judge spend ($)", f"{lazy['strong_cost']:.4f}", f"{eager['strong_cost']:.4f}",
         ratio(lazy["strong_cost"], eager["strong_cost"])),
        ("new pairs to humans", f"{lazy['humans']} ({lazy['humans'] / new:.1%})",
         f"{eager['humans']} ({eager['humans'] / new:.1%})", ratio(lazy["humans"], eager["humans"])),
        ("AI labels agreeing with the truth", agreement(lazy), agreement(eager), "-"),
        ("AI labels kept from the cheap judge", lazy["kept_by_cheap"], eager["kept_by_cheap"], "-"),
        ("route's cost per label ($)", f"{lazy['cost_per_label']:.4f}", f"{eager['cost_per_label']:.4f}",
         ratio(lazy["cost_per_label"] or 0, eager["cost_per_label"] or 0)),
        ("wall time of the flow (s)", f"{lazy['seconds']:.1f}", f"{eager['seconds']:.1f}",
         ratio(lazy["seconds"], eager["seconds"])),
    ]  # fmt: skip
    print(f"{'':<36} | {'lazy':>20} | {'eager':>20} | {'lazy / eager':>12}")
    for name, a, b, r in rows:
        print(f"{name:<36} | {a!s:>20} | {b!s:>20} | {r:>12}")
    print(f"pairs waiting for the strong judge after the lazy flow's first route: {lazy['waiting']}")
    total = len(eager["decisions"])
    print(f"final decisions identical (human or not, blind or not, judge kept): {same} of {total} pairs "
          f"({'PASS' if same == total == len(lazy['decisions']) else 'MISS'})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calibration", type=int, default=1000, help="audited, labelled, judged pairs")
    parser.add_argument("--new", type=int, default=3000, help="new pairs routed by both flows")
    parser.add_argument("--flow", choices=("lazy", "eager"), help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.calibration < 1 or args.new < 1:
        parser.error("--calibration and --new must be at least 1")
    if args.flow:
        print(json.dumps(run_flow(args.flow, args.calibration, args.new, args.workdir)))
        return

    import psycopg

    from scripts.services import start_postgres

    postgres = start_postgres()  # a throwaway cluster: the figures are counts, not database speed
    endpoint = FakeOpenAI()
    endpoint.thread.start()
    try:
        with psycopg.connect(postgres.url, autocommit=True) as connection:
            connection.execute("CREATE DATABASE tandem_eager")
        with tempfile.TemporaryDirectory(prefix="tandem-lazy-") as tmp:
            figures, calls = {}, {}
            for flow, db_url in (("lazy", postgres.url), ("eager", postgres.url + "_eager")):
                before = endpoint.calls()
                print(f"{flow} flow: {args.calibration} calibration + {args.new} new pairs ...", flush=True)
                figures[flow] = flow_in_process(flow, args, db_url, endpoint.base_url, Path(tmp))
                calls[flow] = endpoint.calls() - before
    finally:
        endpoint.server.shutdown()
        endpoint.server.server_close()
        postgres.stop()
    # The calibration pairs cost the same strong calls in both flows; the table is the new batch's.
    calibration = {f: calls[f] - figures[f]["strong_calls"] for f in calls}
    print(f"\nmachine: {os.cpu_count()} cores; requests the endpoint answered, whole flow: {calls} "
          f"(of which the calibration pairs: {calibration})")  # fmt: skip
    print(f"new batch: {args.new} pairs, audit rate {AUDIT_RATE:.0%}, target agreement "
          f"{ROUTING['target_agreement']:.0%} at confidence {ROUTING['confidence']:.0%}")  # fmt: skip
    print_table(figures["lazy"], figures["eager"], figures["lazy"]["strong_calls"],
                figures["eager"]["strong_calls"], args.new)  # fmt: skip


if __name__ == "__main__":
    main()
