"""`python -m ai_assist`: serve the API with the settings from the environment."""

import sys

import uvicorn

from ai_assist.app import create_app
from ai_assist.config import Settings, SettingsError


def main() -> int:
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"ai_assist: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                log_config=None, access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
