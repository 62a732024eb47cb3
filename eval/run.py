"""`make eval`: mapping quality on the labelled set (eval/esg_eval_set.json).

Two measurements, for any AI_ASSIST_EMBEDDING_MODEL (`--model`, default: the service's):
- embedding: the model and the vector search alone, the candidates in similarity order
  (the request's framework only, AI_ASSIST_CANDIDATES of them), in this process;
- pipeline: the real service (`python -m ai_assist`) behind the Gemini emulator, over
  HTTP, the matches in the order it answers (top_k=5). The emulator ranks by the
  similarity the service sends (gemini_emulator/answers.py), so this measures the whole
  plumbing with the retrieval's quality, not Gemini's judgement.

A passage is a hit at k when one of its labels is among the first k disclosures; MRR
is the mean of 1/rank of the first label (0 when none is listed). Prints the table by
language and framework and writes the JSON report (--out).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "service"), str(ROOT)]

from ai_assist.config import Settings  # noqa: E402

SET_PATH = Path(__file__).with_name("esg_eval_set.json")
TOP_K = 5


@dataclass(frozen=True)
class Item:
    id: str
    lang: str
    framework: str
    labels: tuple[str, ...]
    text: str


def load_set(path: Path = SET_PATH) -> list[Item]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    return [Item(i["id"], i["lang"], i["framework"], tuple(i["labels"]), i["text"])
            for i in doc["items"]]


def rank_of(labels: tuple[str, ...], ranked: list[str]) -> int | None:
    """1-based rank of the first label in the ranking, None when absent."""
    for n, disclosure_id in enumerate(ranked, start=1):
        if disclosure_id in labels:
            return n
    return None


def score(ranks: list[int | None]) -> dict:
    n = len(ranks)
    return {"n": n,
            "top1": sum(1 for r in ranks if r == 1),
            "top5": sum(1 for r in ranks if r is not None and r <= TOP_K),
            "mrr": round(sum(1 / r for r in ranks if r) / n, 4) if n else 0.0}


def summarise(items: list[Item], ranks: dict[str, int | None]) -> dict:
    groups: dict[str, list[int | None]] = defaultdict(list)
    for item in items:
        r = ranks[item.id]
        groups[item.lang].append(r)
        groups[f"{item.lang}/{item.framework}"].append(r)
        groups["all"].append(r)
    return {key: score(values) for key, values in sorted(groups.items())}


def embedding_stage(items: list[Item], model_name: str, index_dir: Path) -> dict[str, list]:
    from ai_assist.mapping.catalogue import load_catalogue
    from ai_assist.mapping.embedding import EmbeddingModel
    from ai_assist.mapping.vector_store import open_index

    model = EmbeddingModel(model_name, "auto")
    store = open_index(str(index_dir), load_catalogue(), model)
    candidates = Settings().candidates
    vectors = model.encode([i.text for i in items], kind="query", batch_size=32)

    async def search_all():
        return [await store.search(v, (i.framework,), candidates)
                for i, v in zip(items, vectors)]

    found = asyncio.run(search_all())
    store.close()
    return {i.id: [c.disclosure_id for c in cands] for i, cands in zip(items, found)}


def pipeline_stage(items: list[Item], model_name: str, index_dir: Path, work: Path
                   ) -> dict[str, list]:
    import requests

    from ai_assist.localrun import start_emulator, start_service

    emulator = start_emulator(work)
    service = None
    try:
        service = start_service(work, {"AI_ASSIST_GEMINI_BASE_URL": emulator.url,
                                       "AI_ASSIST_EMBEDDING_MODEL": model_name,
                                       "AI_ASSIST_CHROMA_PATH": str(index_dir),
                                       "AI_ASSIST_RATE_LIMIT_PER_MINUTE": "0",
                                       "AI_ASSIST_LOG_LEVEL": "WARNING"}, ready_timeout=600)
        out = {}
        with requests.Session() as session:
            for item in items:
                response = session.post(f"{service.url}/v1/esg/map", timeout=60, json={
                    "text": item.text, "frameworks": [item.framework], "top_k": TOP_K})
                response.raise_for_status()
                body = response.json()
                if body["fallback_used"]:
                    raise RuntimeError(f"{item.id}: answered by the fallback "
                                       f"({body['fallback_reason']}), not the pipeline")
                out[item.id] = [m["disclosure_id"] for m in body["matches"]]
        return out
    finally:
        if service is not None:
            service.stop()
        emulator.stop()


def table(results: dict[str, dict]) -> str:
    keys = sorted({k for r in results.values() for k in r},
                  key=lambda k: (k != "all", "/" in k, k))
    lines = [f"{'group':<10} {'n':>4} " + " ".join(
        f"{stage + ' top1':>15} {'top5':>6} {'MRR':>6}" for stage in results)]
    for key in keys:
        cells = []
        for stage in results:
            s = results[stage].get(key)
            cells.append(f"{s['top1']:>9}/{s['n']:<3}{'':>2} {s['top5']:>3}/{s['n']:<2} "
                         f"{s['mrr']:>6.3f}" if s else f"{'':>30}")
        n = next(r[key]["n"] for r in results.values() if key in r)
        lines.append(f"{key:<10} {n:>4} " + " ".join(cells))
    return "\n".join(lines)


def check_labels(items: list[Item]) -> None:
    from ai_assist.mapping.catalogue import load_catalogue

    known = {d.id: d.framework for d in load_catalogue()}
    for item in items:
        for label in item.labels:
            if known.get(label) != item.framework:
                raise SystemExit(f"{item.id}: label {label!r} is not a {item.framework} "
                                 f"disclosure of the catalogue")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=Settings().embedding_model,
                        help="an AI_ASSIST_EMBEDDING_MODEL value (default: the service's)")
    parser.add_argument("--stages", default="embedding,pipeline",
                        help="comma-separated: embedding, pipeline")
    parser.add_argument("--out", type=Path, default=ROOT / ".data" / "eval-report.json",
                        help="where the JSON report goes")
    parser.add_argument("--set", type=Path, default=SET_PATH, help="the labelled set")
    args = parser.parse_args(argv)
    items = load_set(args.set)
    check_labels(items)
    work = Path(tempfile.mkdtemp(prefix="ai-assist-eval-"))
    index_dir = work / "chroma"  # built once, reused by the service
    rankings: dict[str, dict[str, list]] = {}
    seconds: dict[str, float] = {}
    for stage in [s.strip() for s in args.stages.split(",") if s.strip()]:
        started = time.perf_counter()
        if stage == "embedding":
            rankings[stage] = embedding_stage(items, args.model, index_dir)
        elif stage == "pipeline":
            rankings[stage] = pipeline_stage(items, args.model, index_dir, work)
        else:
            parser.error(f"unknown stage {stage!r}")
        seconds[stage] = round(time.perf_counter() - started, 1)
    results = {stage: summarise(items, {item.id: rank_of(item.labels, r[item.id])
                                        for item in items})
               for stage, r in rankings.items()}
    print(f"Mapping quality on {args.set.name}: {len(items)} passages, model {args.model}")
    print(table(results))
    report = {"model": args.model, "set": str(args.set.relative_to(ROOT))
              if args.set.is_relative_to(ROOT) else str(args.set),
              "top_k": TOP_K, "seconds": seconds, "results": results,
              "rankings": {stage: {i.id: {"labels": list(i.labels), "ranked": r[i.id][:TOP_K],
                                          "rank": rank_of(i.labels, r[i.id])}
                                   for i in items} for stage, r in rankings.items()}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, ensure_ascii=False, indent=1))
    print(f"report: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
