"""`python -m ai_assist`: serve the API with the settings from the environment."""

import argparse
import sys
import threading

import uvicorn

from ai_assist.config import SHUTDOWN_MARGIN_S, Settings, SettingsError, env_name


def parser() -> argparse.ArgumentParser:
    """No options: every setting is an environment variable, listed by --help."""
    settings = "\n".join(f"  {env_name(info)}={'' if info.repr is False else info.default}"
                         for info in Settings.model_fields.values())
    return argparse.ArgumentParser(
        prog="python -m ai_assist", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Serve the AI Assist API (ESG text to GRI / SASB / TCFD / ESRS "
                    "disclosures) with the settings from the environment.",
        epilog="settings (environment variables, with their defaults; meanings in "
               "docs/reference/settings.md):\n" + settings)


def main(argv: list[str] | None = None) -> int:
    parser().parse_args(argv)  # --help, or a clear error for any argument
    from ai_assist.app import create_app  # after the arguments: --help stays quick
    from ai_assist.composition import load

    try:
        domain = load()  # settings, and the files they name, checked at start
    except SettingsError as exc:
        print(f"ai_assist: {exc}", file=sys.stderr)
        return 2
    # On SIGTERM uvicorn stops accepting, lets in-flight requests finish (each is bounded
    # by its deadline), cancels what is left after deadline + margin, then runs the
    # lifespan shutdown (trace flush bounded by telemetry.tracing.SHUTDOWN_TIMEOUT_S).
    # h11, not httptools: h11 bounds the buffer of an incomplete request line and headers
    # (past it uvicorn answers 400 and closes). X-Forwarded-For
    # is applied by the app, from AI_ASSIST_TRUSTED_PROXIES only, so uvicorn's own proxy
    # handling (which trusts loopback by default) is off.
    # The app bounds the whole header block itself (431 headers_too_large, telemetry/
    # middleware.py): h11's bound holds only while a block is incomplete, so a block
    # that arrives whole passes it. h11's bound, at twice the app's, keeps a block that
    # never ends from growing the buffer.
    settings = domain.settings
    app = create_app(domain=domain)
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_config=None,
                            access_log=False, http="h11",
                            h11_max_incomplete_event_size=2 * settings.max_header_bytes,
                            proxy_headers=False,
                            timeout_graceful_shutdown=(settings.request_deadline_s
                                                       + SHUTDOWN_MARGIN_S))
    ShutdownAwareServer(config, app.state.shutting_down).run()
    return 0


class ShutdownAwareServer(uvicorn.Server):
    """uvicorn's server that also tells the app when a shutdown signal arrives, so work
    that could outlast the graceful shutdown (an on-demand profile) ends early instead of
    being cancelled by it."""

    def __init__(self, config: uvicorn.Config, shutting_down: threading.Event) -> None:
        super().__init__(config)
        self._shutting_down = shutting_down

    def handle_exit(self, sig, frame) -> None:
        self._shutting_down.set()
        super().handle_exit(sig, frame)


if __name__ == "__main__":
    sys.exit(main())
