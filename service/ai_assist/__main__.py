"""`python -m ai_assist`: serve the API with the settings from the environment."""

import sys

import uvicorn

from ai_assist.app import create_app
from ai_assist.config import SHUTDOWN_MARGIN_S, Settings, SettingsError


def main() -> int:
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"ai_assist: {exc}", file=sys.stderr)
        return 2
    # On SIGTERM uvicorn stops accepting, lets in-flight requests finish (each is bounded
    # by its deadline), cancels what is left after deadline + margin, then runs the
    # lifespan shutdown (trace flush bounded by telemetry.tracing.SHUTDOWN_TIMEOUT_S).
    # h11, not httptools: only h11 bounds the request line and headers
    # (AI_ASSIST_MAX_HEADER_BYTES; past it uvicorn answers 400 and closes). X-Forwarded-For
    # is applied by the app, from AI_ASSIST_TRUSTED_PROXIES only, so uvicorn's own proxy
    # handling (which trusts loopback by default) is off.
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                log_config=None, access_log=False, http="h11",
                h11_max_incomplete_event_size=settings.max_header_bytes, proxy_headers=False,
                timeout_graceful_shutdown=settings.request_deadline_s + SHUTDOWN_MARGIN_S)
    return 0


if __name__ == "__main__":
    sys.exit(main())
