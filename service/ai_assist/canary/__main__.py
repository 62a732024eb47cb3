"""`python -m ai_assist.canary`: one canary run on this machine, printed: the baseline
of a golden set for the configured model (the Gemini emulator unless
AI_ASSIST_GEMINI_BASE_URL or GEMINI_API_KEY says otherwise).

The command line of the runtime canary (ai_assist/canary/__init__.py): it builds a whole
service in this process (ai_assist/app.py), which the runtime module never imports."""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import tempfile
from pathlib import Path

from ai_assist.app import create_app
from ai_assist.canary import DEFAULT_SET, READY_POLL_S, Canary, GoldenSet, RunResult, \
    load_golden_set
from ai_assist.config import Settings
from ai_assist.localrun import start_emulator
from ai_assist.telemetry import metrics as M
from ai_assist.telemetry.traffic import CANARY


async def _measure(settings: Settings,
                   golden: GoldenSet) -> tuple[RunResult, dict[str, float]]:
    """One run through a whole service built in this process (no HTTP, no Prometheus)."""
    app = create_app(settings, log_stream=io.StringIO())
    async with app.router.lifespan_context(app):
        state = app.state.service
        while not state.ready:
            if state.startup_error:
                raise SystemExit(f"the service did not start: {state.startup_error}")
            await asyncio.sleep(READY_POLL_S)
        result = await Canary(golden, state.metrics).run_once(state.pipeline)
        tokens = {s.labels["type"]: s.value
                  for family in state.metrics.registry.collect() for s in family.samples
                  if s.name == M.GEMINI_TOKENS_TOTAL and s.labels.get("source") == CANARY
                  and s.value}
    return result, tokens


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ai_assist.canary",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--set", default=str(DEFAULT_SET), help="the golden set (JSON)")
    args = parser.parse_args(argv)
    env = dict(os.environ)
    emulator = None
    work = Path(tempfile.mkdtemp(prefix="ai-assist-canary-"))
    if not env.get("AI_ASSIST_GEMINI_BASE_URL") and not env.get("GEMINI_API_KEY"):
        emulator = start_emulator(work)
        env["AI_ASSIST_GEMINI_BASE_URL"] = emulator.url
    env.setdefault("AI_ASSIST_CHROMA_PATH", str(work / "chroma"))
    try:
        settings = Settings.from_env(env)
        golden = load_golden_set(args.set)
        result, tokens = asyncio.run(_measure(settings, golden))
    finally:
        if emulator is not None:
            emulator.stop()
    _print(args.set, golden, settings, result, tokens)
    return 0


def _print(path: str, golden: GoldenSet, settings: Settings, result: RunResult,
           tokens: dict[str, float]) -> None:
    print(f"Golden set {path}: {len(golden.items)} passages, top_k={golden.top_k}, "
          f"model {settings.embedding_model}, {result.seconds:.1f} s")
    for language in sorted(result.checks):
        print(f"  {language}: {result.hits[language]}/{result.checks[language]} hits "
              f"({result.ratio(language):.0%})")
    print(f"  missed: {', '.join(result.missed) or 'none'}")
    print(f"  Gemini tokens of the run: {int(sum(tokens.values()))} "
          f"({', '.join(f'{k} {int(v)}' for k, v in sorted(tokens.items()))})")


if __name__ == "__main__":
    raise SystemExit(main())
