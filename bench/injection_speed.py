"""The injection scan's speed against a baseline commit's, side by side in one process.

    .venv/bin/python bench/injection_speed.py [--baseline HEAD] [--generated 3000] [--real 3000] [--rounds 3]

Routing scans every response of a new project for prompt injection (labeling.injection
`detect_many`), and on a first route that scan is most of the time (issue #19). This measures
responses per CPU second of today's detector and of the detector at `--baseline` (its
labeling/injection*.py and model read with `git show` into a temporary package), alternated
`--rounds` times on the same texts, best round of each: (a) responses from
bench/import_pairs.py's generator, (b) real responses from ../shared/data (bench/injection.py's
loaders; skipped when the data is missing). It also checks that both give the same hits. The
figures are CPU seconds of one process; on a shared machine, compare the ratio, not the rates.
"""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(BENCH), str(ROOT)]

from import_pairs import Vocabulary, _length  # noqa: E402

from labeling.injection import detect_many  # noqa: E402

MODULES = ("injection", "injection_classifier", "injection_lexicon", "injection_rules", "injection_text")
BATCH = 200  # texts per detect_many call, as routing's scan of a chunk of pairs


def baseline_detect_many(revision: str, folder: Path) -> Callable:
    """`detect_many` of labeling/injection*.py at `revision`, loaded as package `injection_baseline`.

    Raises SystemExit naming the revision when git cannot show a file."""
    package = folder / "injection_baseline"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name in (*MODULES, "injection_model.npz"):
        file = name if name.endswith(".npz") else f"{name}.py"
        shown = subprocess.run(
            ["git", "show", f"{revision}:labeling/{file}"], cwd=ROOT, capture_output=True, timeout=60
        )
        if shown.returncode != 0:
            raise SystemExit(f"git show {revision}:labeling/{file} failed: {shown.stderr.decode().strip()}")
        data = shown.stdout
        if file.endswith(".py"):
            data = data.replace(b"from labeling.injection", b"from injection_baseline.injection")
            data = data.replace(
                b"from labeling import injection", b"from injection_baseline import injection"
            )
        (package / file).write_bytes(data)
    sys.path.insert(0, str(folder))
    return importlib.import_module("injection_baseline.injection").detect_many


def generated_responses(count: int) -> list[str]:
    """`count` responses from bench/import_pairs.py's generator (seeded: the same every run)."""
    rng, vocabulary = np.random.default_rng(1), Vocabulary.make(1)
    return [vocabulary.passage(rng, _length(rng, 900, 0.7, 100, 6000)) for _ in range(count)]


def real_responses(count: int) -> list[str]:
    """Up to `count` distinct real responses from ../shared/data, spread over its sets; [] without it."""
    import injection

    try:
        sets = injection.real_response_sets()
    except (OSError, ValueError) as error:
        print(f"(no real responses: {error})")
        return []
    texts = [t for found in sets.values() for t in found]
    step = max(1, len(texts) // count)
    return texts[::step][:count]


def rates(texts: list[str], detectors: dict[str, Callable], rounds: int) -> dict[str, float]:
    """{name: responses per CPU second}, best of `rounds`, detectors alternated; each call gets
    BATCH texts. Raises AssertionError when the detectors disagree on a text."""
    best: dict[str, float] = {}
    answers: dict[str, list] = {}
    for _ in range(rounds):
        for name, detect in detectors.items():
            started, found = time.process_time(), []
            for i in range(0, len(texts), BATCH):
                found += detect(texts[i : i + BATCH])
            best[name] = max(best.get(name, 0.0), len(texts) / max(time.process_time() - started, 1e-9))
            # The two InjectionHit classes never compare equal: compare what they hold.
            answers[name] = [(hit.rule, hit.excerpt) if hit else None for hit in found]
    (first_name, first), *others = answers.items()
    for name, found in others:
        differ = [i for i, (a, b) in enumerate(zip(first, found, strict=True)) if a != b]
        assert not differ, f"{name} differs from {first_name} on {len(differ)} texts, e.g. #{differ[0]}"
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default="HEAD", help="git revision of the baseline detector")
    parser.add_argument("--generated", type=int, default=3000, help="generated responses")
    parser.add_argument("--real", type=int, default=3000, help="real responses (0: none)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        baseline = baseline_detect_many(args.baseline, Path(folder))
        detectors = {f"baseline ({args.baseline})": baseline, "today": detect_many}
        for name, texts in (
            ("generated", generated_responses(args.generated)),
            ("real", real_responses(args.real) if args.real else []),
        ):
            if not texts:
                continue
            for detect in detectors.values():
                detect(texts[:20])  # load the models and compile the rules before timing
            found = rates(texts, detectors, args.rounds)
            (base, old), (_, new) = found.items()
            flagged = sum(hit is not None for hit in detect_many(texts))
            print(
                f"{name:9} {len(texts):6} responses ({flagged} flagged)  {base}: {old:7.0f}/CPU s  "
                f"today: {new:7.0f}/CPU s  ratio {new / old:.2f}x  (same hits on every text)"
            )


if __name__ == "__main__":
    main()
