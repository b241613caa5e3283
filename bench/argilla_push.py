"""Benchmark: pushing review records to a real local Argilla (argilla-server 2.8.0), issue 4.

Each way puts records like the sync job's (a prompt and two responses of realistic length,
metadata, the AI's verdict as a suggestion) into a fresh dataset of a fresh local server:

- ceiling: the server's own bulk endpoint, PUT /api/v1/datasets/{id}/records/bulk, with the
  JSON bodies built before the clock starts, at several batch sizes; the best is the ceiling
  (what the server can take, with no client work at all);
- ours: `ArgillaReview.push`, the adapter the sync job calls, at the batch size sync uses;
- the SDK's `dataset.records.log` at the same batch size (what the adapter did before);
- one at a time: the SDK's `dataset.records.log([record])` for each record;
- a control: the endpoint at ours' batch size a second time, into another dataset: the gap
  between the two is what noise alone does on the machine at the time.

The endpoint at every batch size and ours run interleaved: each chunk of records goes through
every way in turn, the order rotating by one each chunk (6 ways, 6 chunks: each way once in
each position), so that load from elsewhere on a shared machine falls on
all of them alike. It prints records/s (the median over the chunks), the CPU time per record
of the server (from /proc) and of this client, and ours / ceiling against the target of 90%.

    .venv/bin/python bench/argilla_push.py [--records 1500] [--chunk 250] [--single 100] [--db sqlite]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import statistics
import sys
import time
import uuid
import warnings
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")  # the SDK's progress bars
sys.path.insert(0, str(Path(__file__).resolve().parent))
from argilla_stack import local_argilla

TARGET = 0.9
CEILING_BATCHES = (50, 100, 250)  # 500 measured no better than 100-250
OURS_BATCH = 100  # review.sync's default
WORDS = [
    "the",
    "model",
    "answer",
    "question",
    "because",
    "value",
    "first",
    "second",
    "result",
    "code",
    "function",
    "return",
    "list",
    "data",
    "step",
    "check",
    "error",
    "example",
    "number",
    "string",
    "case",
    "test",
    "true",
    "false",
    "input",
    "output",
    "time",
    "rate",
    "loop",
]


def items(n: int, seed: int = 0) -> list:
    from labeling.argilla_review import ReviewItem
    from labeling.records import Choice

    rnd = random.Random(seed)

    def text(low: int, high: int) -> str:
        return " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(low, high)))

    return [
        ReviewItem(
            pair_id=i,
            prompt=text(20, 80),
            response_a=text(50, 500),
            response_b=text(50, 500),
            record_id=f"r{i:024x}",
            show_suggestion=i % 10 != 0,
            ai_choice=rnd.choice([Choice.A, Choice.B, Choice.TIE]),
            ai_score=round(rnd.uniform(0.5, 1.0), 4),
            agent="smollm2",
        )
        for i in range(n)
    ]


class Server:
    """The local server's process, for its CPU time."""

    def __init__(self, local):
        self.pid = int(local.pid_file("server").read_text())

    def cpu(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Way:
    """One way of pushing, into its own dataset: `prepare` (untimed) then `send` (timed);
    accumulates records, wall time and the server's CPU time."""

    def __init__(self, label: str, send, prepare=lambda chunk: chunk):
        self.label, self.send, self.prepare = label, send, prepare
        self.records, self.seconds, self.cpu, self.client_cpu = 0, 0.0, 0.0, 0.0
        self.chunk_rates: list[float] = []

    def run(self, server: Server, chunk: list) -> None:
        payload = self.prepare(chunk)
        cpu, client, started = server.cpu(), time.process_time(), time.perf_counter()
        self.send(payload)
        seconds = time.perf_counter() - started
        self.seconds += seconds
        self.cpu += server.cpu() - cpu
        self.client_cpu += time.process_time() - client
        self.records += len(chunk)
        self.chunk_rates.append(len(chunk) / seconds)

    @property
    def rate(self) -> float:
        """The median of the chunks' rates: a burst of load elsewhere spoils one chunk, not all."""
        return statistics.median(self.chunk_rates)

    @property
    def client_ms(self) -> float:
        return 1000 * self.client_cpu / self.records

    @property
    def cpu_ms(self) -> float:
        return 1000 * self.cpu / self.records


def rest_bodies(review, dataset, batch: list) -> list[dict]:
    """The bulk endpoint's items for `batch`: the same bodies as the adapter sends."""
    from labeling.argilla_review import record_body

    question_ids = review.question_ids(dataset)
    return [record_body(item, question_ids, review.seed) for item in batch]


def bench_database(database: str, n: int, chunk: int, single: int) -> tuple[list[Way], Way, Way, Way, Way]:
    """(the endpoint at each batch size, the endpoint at ours' batch size again as a control,
    ours, the SDK's batched log, the SDK one at a time);
    all but the last run
    interleaved, chunk by chunk (every chunk goes through every way, in a rotating order), so
    that load from elsewhere on the machine falls on all of them alike."""
    from labeling.argilla_review import ArgillaReview, to_record

    with local_argilla(database) as (local, credentials):
        review = ArgillaReview(local.api_url, credentials["users"]["owner"]["api_key"])
        http = review.client.api.http_client
        server = Server(local)

        def fresh():
            return review.dataset(f"bench-{uuid.uuid4().hex[:8]}", "Prefer the correct answer.")[0]

        def endpoint(size: int) -> Way:
            dataset = fresh()

            def prepare(part: list) -> list[bytes]:
                bodies = rest_bodies(review, dataset, part)
                return [
                    json.dumps({"items": bodies[i : i + size]}).encode() for i in range(0, len(part), size)
                ]

            def send(payloads: list[bytes]) -> None:
                for payload in payloads:
                    answer = http.put(
                        f"/api/v1/datasets/{dataset.id}/records/bulk",
                        content=payload,
                        headers={"Content-Type": "application/json"},
                        timeout=600,
                    )
                    answer.raise_for_status()

            return Way(f"bulk endpoint, batch {size}", send, prepare)

        ways = [endpoint(size) for size in CEILING_BATCHES]
        control = endpoint(OURS_BATCH)  # the same way twice: how far apart noise alone puts them
        control.label += " (again)"
        ours_dataset = fresh()
        ours = Way(
            f"ours (ArgillaReview.push, batch {OURS_BATCH})",
            lambda part: review.push(ours_dataset, part, OURS_BATCH),
        )
        sdk_dataset = fresh()
        sdk = Way(
            f"SDK records.log, batch {OURS_BATCH} (ours before)",
            lambda part: sdk_dataset.records.log(
                [to_record(i, review.seed) for i in part], batch_size=OURS_BATCH
            ),
        )
        records = items(n)
        everyone = [*ways, control, ours, sdk]
        for k, start in enumerate(range(0, n, chunk)):
            part = records[start : start + chunk]
            for way in everyone[k % len(everyone) :] + everyone[: k % len(everyone)]:
                way.run(server, part)
        single_dataset = fresh()
        one_by_one = Way(
            "SDK, one record per call",
            lambda part: [single_dataset.records.log([to_record(item, review.seed)]) for item in part],
        )
        one_by_one.run(server, records[:single])
        return ways, control, ours, sdk, one_by_one


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1500, help="records per way")
    parser.add_argument("--chunk", type=int, default=250, help="records per turn of the interleaving")
    parser.add_argument("--single", type=int, default=100, help="records logged one at a time")
    parser.add_argument("--db", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore", message="Dataset with name")  # the SDK's, before each create
    print(
        f"argilla-server 2.8.0, SQL search engine, {os.cpu_count()} CPUs; {args.records} records per way, "
        f"interleaved in chunks of {args.chunk}; the SDK one at a time on {args.single}"
    )
    for db in args.db:
        ways, control, ours, sdk, single = bench_database(db, args.records, args.chunk, args.single)
        ceiling = max(ways, key=lambda way: way.rate)
        head = f"{'records/s':>10} {'CPU ms/record: server':>22} {'client':>7} {'vs ceiling':>11}"
        print(f"\n{db}: {'way':<36} {head}")
        for way in [*ways, control, ours, sdk, single]:
            mark = " <- ceiling" if way is ceiling else ""
            share = way.rate / ceiling.rate
            cpu = f"{way.cpu_ms:>22.1f} {way.client_ms:>7.2f}"
            print(f"  {way.label:<40} {way.rate:>10.1f} {cpu} {share:>10.0%}{mark}")
        twin = next(way for way in ways if way.label == f"bulk endpoint, batch {OURS_BATCH}")
        ratio = ours.rate / ceiling.rate
        verdict = "met" if ratio >= TARGET else "NOT met"
        best_cpu = min(way.cpu_ms for way in ways)
        print(
            f"  ours / ceiling = {ratio:.0%} in records/s (target >= {TARGET:.0%}: {verdict}), "
            f"{best_cpu / ours.cpu_ms:.0%} in server CPU per record; "
            f"the same way twice: {min(control.rate, twin.rate) / max(control.rate, twin.rate):.0%} (noise); "
            f"ours / SDK batched = {ours.rate / sdk.rate:.2f}x; "
            f"ours / SDK one at a time = {ours.rate / single.rate:.1f}x"
        )


if __name__ == "__main__":
    main()
