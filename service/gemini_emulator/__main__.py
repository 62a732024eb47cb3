"""`python -m gemini_emulator`: serve the emulator (see the package docstring)."""

from __future__ import annotations

import argparse
import sys

import uvicorn

from ai_assist import ports
from gemini_emulator.config import FAULTS, ConfigError, EmulatorConfig
from gemini_emulator.server import create_app


def _rate(raw: str) -> tuple[str, float]:
    fault, sep, value = raw.partition("=")
    if not sep or fault not in FAULTS:
        raise argparse.ArgumentTypeError(f"expected FAULT=P with FAULT one of {', '.join(FAULTS)}")
    try:
        return fault, float(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r} is not a probability") from exc


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m gemini_emulator",
                                     description="A Gemini API emulator on loopback.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=ports.GEMINI_EMULATOR)
    parser.add_argument("--latency-ms", type=float, default=0.0,
                        help="added to every answer (default 0)")
    parser.add_argument("--jitter-ms", type=float, default=0.0,
                        help="plus a uniform 0..JITTER_MS (default 0)")
    parser.add_argument("--fault-rate", type=_rate, action="append", default=[],
                        metavar="FAULT=P", help=f"probability of a fault per call; FAULT "
                                                f"one of {', '.join(FAULTS)} (repeatable)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the rate and jitter draws")
    parser.add_argument("--thinking-tokens", type=int, default=None,
                        help="thinking tokens of every answer (default: 50..300 per prompt)")
    parser.add_argument("--prompt-tokens", type=int, default=None,
                        help="prompt tokens of every answer (default: about chars / 4)")
    parser.add_argument("--output-tokens", type=int, default=None,
                        help="output tokens of every answer (default: about chars / 4)")
    parser.add_argument("--hang-s", type=float, default=600.0,
                        help="how long a timeout fault holds a request (default 600)")
    parser.add_argument("--retry-delay-s", type=float, default=None,
                        help="RetryInfo.retryDelay sent with 429 answers (default: none)")
    parser.add_argument("--log-level", default="warning")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = EmulatorConfig(latency_ms=args.latency_ms, jitter_ms=args.jitter_ms,
                                fault_rates=dict(args.fault_rate), seed=args.seed,
                                prompt_tokens=args.prompt_tokens,
                                output_tokens=args.output_tokens,
                                thinking_tokens=args.thinking_tokens, hang_s=args.hang_s,
                                retry_delay_s=args.retry_delay_s)
        app = create_app(config)
    except ConfigError as exc:
        print(f"gemini_emulator: {exc}", file=sys.stderr)
        return 2
    print(f"Gemini emulator on http://{args.host}:{args.port}", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level,
                access_log=False, timeout_graceful_shutdown=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
