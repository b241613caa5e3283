"""Injection snippet sets inserted into real responses, and the detector's speed: helpers of
bench/injection.py.

A snippet set is a JSONL file of `{id, style, lang, text}` rows. Each snippet is inserted into
the gold-losing response of every LLMBar Natural pair, appended and prepended, so the detector
meets it inside real text, as it would in a pair. Recall is reported two ways: over insertions,
and over snippets (a snippet counts as caught only when every one of its insertions is flagged);
the snippets are the independent units, so the Wilson interval over snippets is the honest one.
The same insertion over a clean set gives the false positives that a benign text causes.

Speed: the detector as it was before issue #16 (labeling/injection.py at commit `BASELINE`,
read with `git show`) and today's, over the same real responses, alternated and timed in CPU
seconds (the bench machine is shared; wall time is noisier).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "aa9ac0a"  # the last commit with the regex-only detector of issue #16's report


def load_snippets(path: Path) -> list[dict]:
    """The rows of a snippet set; ValueError names the file, line and missing field."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        if not isinstance(row.get("text"), str) or not row["text"].strip():
            raise ValueError(f"{path}:{number}: field 'text' is missing or empty; every row needs one")
        rows.append(row)
    return rows


def insertions(text: str, hosts: list[str]) -> list[str]:
    """`text` appended to and prepended to each host response, a blank line between."""
    return [f"{host}\n\n{text}" for host in hosts] + [f"{text}\n\n{host}" for host in hosts]


def snippet_results(snippets: list[dict], hosts: list[str], detect: Callable) -> list[dict]:
    """Per snippet: how many of its insertions were flagged, and the rules that fired."""
    out = []
    for row in snippets:
        hits = [detect(t) for t in insertions(row["text"], hosts)]
        rules = sorted({h.rule for h in hits if h is not None})
        out.append({**row, "flagged": sum(h is not None for h in hits), "n": len(hits), "rules": rules})
    return out


def totals(results: list[dict], clean: bool) -> tuple[int, int, int]:
    """(flagged insertions, insertions, snippets caught). A clean snippet is caught (against the
    detector) if any insertion is flagged; an injection counts for it only if all are."""
    k, n = sum(r["flagged"] for r in results), sum(r["n"] for r in results)
    caught = sum((r["flagged"] > 0) if clean else (r["flagged"] == r["n"]) for r in results)
    return k, n, caught


def print_baseline(label: str, results: list[dict], rate: Callable[[int, int], str], clean: bool) -> None:
    """The two overall lines of `print_set` for another detector (the one before issue #16)."""
    k, n, caught = totals(results, clean)
    what = "false positives" if clean else "recall"
    print(f"  {label}: {what} over insertions {rate(k, n).strip()}")
    print(f"  {label}: snippets {rate(caught, len(results)).strip()}")
    print()


def print_set(title: str, results: list[dict], rate: Callable[[int, int], str], clean: bool) -> None:
    """A table: overall over insertions and over snippets, then by style and by language."""
    what = "false positives" if clean else "recall"
    k, n, caught = totals(results, clean)
    print(f"== {title}: {len(results)} snippets x {n // max(len(results), 1)} insertions ==")
    print(f"{what + ' over insertions':44} {rate(k, n):>36}")
    label = "snippets flagged in any insertion" if clean else "snippets flagged in every insertion"
    print(f"{label:44} {rate(caught, len(results)):>36}")
    for key in ("style", "lang"):
        groups: dict[str, list[dict]] = defaultdict(list)
        for r in results:
            groups[str(r.get(key, "-"))].append(r)
        if len(groups) < 2:
            continue
        print(f"  by {key}:")
        for name, rows in sorted(groups.items()):
            gk, gn = sum(r["flagged"] for r in rows), sum(r["n"] for r in rows)
            rules = sorted({rule for r in rows for rule in r["rules"]})
            print(f"  {name:42} {rate(gk, gn):>36}  {', '.join(rules)[:60] or '-'}")
    shown = [r for r in results if (r["flagged"] > 0 if clean else r["flagged"] < r["n"])]
    if shown:
        print(f"  {'flagged' if clean else 'missed (in at least one insertion)'}: {len(shown)}")
        for r in shown:
            where = f"{r.get('id', '?')} [{r.get('style', '-')}/{r.get('lang', '-')}]"
            print(f"    {where} {r['flagged']}/{r['n']}: {' '.join(r['text'].split())[:90]!r}")
    print()


def baseline_detector() -> Callable | None:
    """`detect` of labeling/injection.py at BASELINE, or None when git cannot show it."""
    try:
        source = subprocess.run(
            ["git", "show", f"{BASELINE}:labeling/injection.py"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
    except (OSError, subprocess.SubprocessError) as error:
        print(f"(no baseline detector: git show {BASELINE}:labeling/injection.py failed: {error})")
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as file:
        file.write(source)
    spec = importlib.util.spec_from_file_location("injection_baseline", file.name)
    module = importlib.util.module_from_spec(spec)
    sys.modules["injection_baseline"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module.detect


def throughput(texts: list[str], detectors: dict[str, Callable], rounds: int = 3) -> dict[str, float]:
    """{name: responses per CPU second}, the best of `rounds` passes, detectors alternated."""
    best: dict[str, float] = {}
    for _ in range(rounds):
        for name, detect in detectors.items():
            started = time.process_time()
            for text in texts:
                detect(text)
            seconds = max(time.process_time() - started, 1e-9)
            best[name] = max(best.get(name, 0.0), len(texts) / seconds)
    return best
