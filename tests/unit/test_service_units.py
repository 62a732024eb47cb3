"""Settings, rate limiter, request ids and the fallback's calibration, in isolation."""

from __future__ import annotations

import pytest

from ai_assist import composition
from ai_assist.config import Settings, SettingsError
from ai_assist.mapping.fallback import calibrated_confidence
from ai_assist.ratelimit import RateLimiter
from ai_assist.telemetry.middleware import request_id_from


def test_settings_read_the_seed_env_vars():
    s = Settings.from_env({"AI_ASSIST_LOG_LEVEL": "DEBUG", "AI_ASSIST_LOG_FORMAT": "console",
                           "AI_ASSIST_METRICS_ENABLED": "false",
                           "AI_ASSIST_TRACING_ENABLED": "true", "ENV": "prod"})
    assert (s.log_level, s.log_format, s.metrics_enabled, s.tracing_enabled, s.environment) == \
        ("DEBUG", "console", False, True, "prod")


@pytest.mark.parametrize("env,words", [
    ({"AI_ASSIST_PORT": "eighty"}, "AI_ASSIST_PORT"),
    ({"AI_ASSIST_LOG_FORMAT": "xml"}, "AI_ASSIST_LOG_FORMAT"),
    ({"AI_ASSIST_TRACING_ENABLED": "maybe"}, "not a boolean"),
    ({"AI_ASSIST_GEMINI_MODEL": "gpt-4"}, "pricing.py"),
    ({"AI_ASSIST_MAX_TOP_K": "0"}, "AI_ASSIST_MAX_TOP_K"),
    ({"GEMINI_API_KEY_FILE": "/nonexistent/key"}, "cannot be read"),
])
def test_bad_settings_are_refused_with_the_variable_named(env, words):
    with pytest.raises(SettingsError, match=words):
        composition.load(env)  # the settings, then what they name (the price table)


def test_settings_built_in_code_read_no_environment_and_copies_are_validated(monkeypatch):
    monkeypatch.setenv("AI_ASSIST_PORT", "1234")
    assert Settings().port == Settings(max_top_k=5).port == 8000  # the default, not the env
    assert Settings.from_env().port == 1234 and Settings(max_top_k=5).max_top_k == 5
    assert Settings.from_env({"AI_ASSIST_PORT": "", "AI_ASSIST_UNKNOWN": "x"}).port == 8000
    assert Settings().with_(port=9).port == 9
    with pytest.raises(SettingsError, match="AI_ASSIST_PORT must be >= 1"):
        Settings().with_(port=0)


def test_every_problem_is_named_at_once():
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"AI_ASSIST_PORT": "eighty", "AI_ASSIST_METRICS_ENABLED": "maybe",
                           "AI_ASSIST_CACHE_TTL_S": "0", "AI_ASSIST_LLM_TIMEOUT_S": "0",
                           "GEMINI_API_KEY_FILE": "/nonexistent/key"})
    message = str(caught.value)
    assert message.startswith("invalid settings: ")
    for words in ("AI_ASSIST_PORT='eighty': expected int",
                  "AI_ASSIST_METRICS_ENABLED='maybe' is not a boolean (use true or false)",
                  "AI_ASSIST_CACHE_TTL_S must be between 1 and 604800",
                  "AI_ASSIST_LLM_TIMEOUT_S must be > 0",
                  "GEMINI_API_KEY_FILE='/nonexistent/key' cannot be read"):
        assert words in message, message
    assert Settings.from_env({"AI_ASSIST_METRICS_ENABLED": " Off "}).metrics_enabled is False


def test_secrets_come_from_files_and_are_never_shown(tmp_path):
    key = tmp_path / "key"
    key.write_text("s3cret-value\n")
    s = Settings.from_env({"GEMINI_API_KEY_FILE": str(key)})
    assert s.gemini_api_key == "s3cret-value"
    assert "s3cret" not in repr(s.redacted()) and s.redacted()["gemini_api_key"] == "set"


def test_llm_is_configured_only_with_a_key_or_a_base_url():
    assert not Settings.from_env({}).llm_configured
    assert Settings.from_env({"GEMINI_API_KEY": "k"}).llm_configured
    assert Settings.from_env({"AI_ASSIST_GEMINI_BASE_URL": "http://127.0.0.1:1"}).llm_configured
    assert not Settings.from_env({"GEMINI_API_KEY": "k",
                                  "AI_ASSIST_LLM_ENABLED": "false"}).llm_configured


async def test_rate_limiter_keeps_a_window_per_client():
    limiter = RateLimiter(per_minute=60, burst=2)  # 2 in any 2 s, 60 a minute
    waits = [await limiter.acquire("a") for _ in range(3)]
    assert waits[:2] == [0, 0] and 0 < waits[2] <= 2
    assert await limiter.acquire("b") == 0  # another client has its own window
    assert RateLimiter.retry_after(waits[2]) in ("1", "2")
    off = RateLimiter(0, 1)
    assert [await off.acquire("a") for _ in range(100)] == [0] * 100


async def test_rate_limiter_burst_never_exceeds_the_minute():
    limiter = RateLimiter(per_minute=5, burst=60)  # burst above the rate: the minute rules
    waits = [await limiter.acquire("a") for _ in range(7)]
    assert waits[:5] == [0] * 5 and all(w > 0 for w in waits[5:])


@pytest.mark.parametrize("incoming,kept", [
    ("abc-123", True), ("a" * 128, True), ("a" * 129, False), ("", False),
    ("has space", False), ("<script>", False), ("trace:01.x_y", True),
])
def test_request_id_is_kept_only_when_sane(incoming, kept):
    result = request_id_from({"x-request-id": incoming} if incoming else {})
    assert (result == incoming) is kept
    assert len(result) <= 128


def test_fallback_confidence_is_monotonic_and_capped():
    for model in ("bundled:all-MiniLM-L6-v2", "intfloat/multilingual-e5-base"):
        values = [calibrated_confidence(s / 100, model) for s in range(0, 101, 5)]
        assert values == sorted(values)
        assert max(values) <= 0.9 and min(values) >= 0


def test_the_command_line_lists_every_setting_and_refuses_arguments():
    """`python -m ai_assist --help` answers at once (no server started) with every
    setting's variable and default; any argument is a clear usage error, not a server."""
    import subprocess
    import sys

    from ai_assist import ports
    from ai_assist.config import env_name
    from tests.harness.processes import python_env

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "ai_assist", *args], env=python_env({}),
                              capture_output=True, text=True, timeout=60)

    shown = run("--help")
    assert shown.returncode == 0, shown.stderr
    listed = [line.split("=")[0].strip() for line in shown.stdout.splitlines() if "=" in line]
    assert listed == [env_name(info) for info in Settings.model_fields.values()]
    assert f"AI_ASSIST_PORT={ports.SERVICE}" in shown.stdout
    refused = run("--port", "9000")
    assert refused.returncode == 2
    assert "unrecognized arguments: --port 9000" in refused.stderr
