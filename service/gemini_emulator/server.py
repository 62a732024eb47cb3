"""The emulator's HTTP app (FastAPI) and a runner that serves it from a background
thread on an ephemeral loopback port (for tests)."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from gemini_emulator import answers
from gemini_emulator.config import OUTCOMES, ConfigError, EmulatorConfig
from gemini_emulator.faults import FaultPlan, MarkerError

API_VERSIONS = ("v1", "v1beta", "v1alpha")

# (HTTP code, Google RPC status, message) of each error fault, as Gemini words them.
ERRORS = {
    "400": (400, "INVALID_ARGUMENT", "Request contains an invalid argument."),
    "429": (429, "RESOURCE_EXHAUSTED",
            "You exceeded your current quota, please check your plan and billing details."),
    "500": (500, "INTERNAL", "An internal error has occurred. Please retry or report in "
                             "https://developers.generativeai.google/guide/troubleshooting"),
    "503": (503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
    "timeout": (504, "DEADLINE_EXCEEDED", "Deadline expired before operation could complete."),
}


# what a proxy in front of the API may answer with 200: not JSON, whatever it claims
NOT_JSON_BODY = ("<html><head><title>Upstream error</title></head><body>The upstream "
                 "answered with an unexpected page.</body></html>")


def error_response(code: int, status: str, message: str, details: list | None = None,
                   headers: dict | None = None) -> JSONResponse:
    error = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return JSONResponse({"error": error}, status_code=code, headers=headers)


@dataclass
class EmulatorState:
    """Lives on the server's event loop: every change happens there, so no locks."""
    initial: EmulatorConfig
    config: EmulatorConfig = field(init=False)
    plan: FaultPlan = field(init=False)
    outcomes: Counter = field(default_factory=Counter)
    tokens: Counter = field(default_factory=Counter)
    # tokens billed by the number of candidates in the prompt (A/B variants that hand
    # Gemini fewer candidates are told apart by it)
    tokens_by_candidates: dict = field(default_factory=dict)
    calls: int = 0
    in_flight: int = 0
    abandoned: int = 0  # calls whose client went away before the answer

    def __post_init__(self) -> None:
        self.config = self.initial
        self.plan = FaultPlan(self.config)

    def reset(self) -> None:
        self.config = self.initial
        self.plan.reset(self.config)
        self.outcomes.clear()
        self.tokens.clear()
        self.tokens_by_candidates.clear()
        self.calls = 0
        self.abandoned = 0

    def stats(self) -> dict:
        return {"calls": self.calls, "in_flight": self.in_flight,
                "abandoned": self.abandoned,
                "by_outcome": {o: self.outcomes.get(o, 0) for o in OUTCOMES},
                "tokens": {t: self.tokens.get(t, 0) for t in ("prompt", "output", "thinking",
                                                                 "cached")},
                "tokens_by_candidates": {str(n): dict(c) for n, c
                                         in sorted(self.tokens_by_candidates.items())}}


def request_text(body: dict) -> str:
    """Every text part of the request: system instruction first, then the contents."""
    texts = []
    system = _field(body, "systemInstruction", "system_instruction") or {}
    for part in (system.get("parts") or []) if isinstance(system, dict) else []:
        if isinstance(part, dict) and isinstance(part.get("text"), str):
            texts.append(part["text"])
    for content in body.get("contents") or []:
        for part in (content.get("parts") or []) if isinstance(content, dict) else []:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                texts.append(part["text"])
    return "\n".join(texts)


def _field(obj, camel: str, snake: str):
    """A request field: like Gemini, accept both JSON names (the SDK sends some
    nested fields in snake_case)."""
    if not isinstance(obj, dict):
        return None
    return obj.get(camel, obj.get(snake))


def _thinking_budget(body: dict) -> int | None:
    generation = _field(body, "generationConfig", "generation_config")
    budget = _field(_field(generation, "thinkingConfig", "thinking_config"),
                    "thinkingBudget", "thinking_budget")
    return budget if isinstance(budget, int) and budget >= 0 else None


async def _until_disconnected(request: Request, limit_s: float | None) -> bool:
    """Hold the request until the client goes away (True) or `limit_s` passes (False;
    None: no limit)."""
    async def disconnected():
        while (await request.receive())["type"] != "http.disconnect":
            pass

    try:
        await asyncio.wait_for(disconnected(), timeout=limit_s)
        return True
    except TimeoutError:
        return False


def create_app(config: EmulatorConfig | None = None) -> FastAPI:
    initial = config or EmulatorConfig()
    initial.validate()
    state = EmulatorState(initial)
    app = FastAPI(title="Gemini API emulator", docs_url=None, redoc_url=None)
    app.state.emulator = state

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok"}

    @app.get("/_emulator/config")
    async def get_config():
        return state.config.to_json()

    @app.post("/_emulator/config")
    async def set_config(request: Request):
        try:
            changes = json.loads(await request.body() or b"{}")
            state.config = state.config.updated(changes)
        except (ValueError, ConfigError) as exc:
            return error_response(400, "INVALID_ARGUMENT", str(exc))
        if "seed" in changes:
            state.plan.reseed(state.config)
        return state.config.to_json()

    @app.post("/_emulator/reset")
    async def reset():
        state.reset()
        return state.config.to_json()

    @app.get("/_emulator/stats")
    async def stats():
        return state.stats()

    @app.post("/{version}/models/{model_action}")
    async def models(version: str, model_action: str, request: Request):
        model, _, action = model_action.partition(":")
        if version not in API_VERSIONS or action != "generateContent":
            return error_response(404, "NOT_FOUND",
                                  f"{request.url.path} is not found (the emulator serves "
                                  "POST /{v1,v1beta}/models/{model}:generateContent).")
        state.calls += 1
        state.in_flight += 1
        try:
            return await generate(state, model, request)
        finally:
            state.in_flight -= 1

    return app


async def generate(state: EmulatorState, model: str, request: Request) -> JSONResponse:
    config = state.config
    if not (request.headers.get("x-goog-api-key") or request.query_params.get("key")):
        state.outcomes["unauthenticated"] += 1
        return error_response(403, "PERMISSION_DENIED",
                              "Method doesn't allow unregistered callers. Please use an API key.")
    try:
        body = json.loads(await request.body())
        if not isinstance(body, dict) or not isinstance(body.get("contents"), list):
            raise ValueError("contents is required")
        prompt = request_text(body)
        fault = state.plan.decide(prompt, config)
    except (ValueError, MarkerError) as exc:
        state.outcomes["bad_request"] += 1
        return error_response(400, "INVALID_ARGUMENT", f"Invalid request: {exc}")

    state.outcomes[fault or "ok"] += 1
    if fault in ("timeout", "hang"):
        if await _until_disconnected(request, config.hang_s if fault == "timeout" else None):
            state.abandoned += 1
        return error_response(*ERRORS["timeout"])

    delay_ms = config.latency_ms + (state.plan.rng.uniform(0, config.jitter_ms)
                                    if config.jitter_ms else 0.0)
    if delay_ms and await _until_disconnected(request, delay_ms / 1000):  # the latency
        state.abandoned += 1
        return error_response(*ERRORS["timeout"])  # nobody reads it
    if fault == "not_json":
        return Response(NOT_JSON_BODY, status_code=200, media_type="application/json")

    if fault in ERRORS:
        code, status, message = ERRORS[fault]
        if fault == "400":  # as Gemini does, the message quotes the value it refuses
            message += f" Invalid value at 'contents[0].parts[0].text': {_excerpt(prompt)!r}"
        details = None
        if fault == "429" and config.retry_delay_s is not None:
            details = [{"@type": "type.googleapis.com/google.rpc.RetryInfo",
                        "retryDelay": f"{config.retry_delay_s:g}s"}]
        return error_response(code, status, message, details)
    return JSONResponse(model_answer(state, model, prompt, fault, _thinking_budget(body)))


def _excerpt(prompt: str, chars: int = 160) -> str:
    """The part of the prompt just before its first marker (the passage's words), else
    the prompt's end: what an error message of Gemini's may quote."""
    found = MARKER_START.search(prompt)
    end = found.start() if found else len(prompt)
    return prompt[max(0, end - chars):end]


MARKER_START = re.compile(r"\[\[emulate:", re.IGNORECASE)


def model_answer(state: EmulatorState, model: str, prompt: str, fault: str | None,
                 thinking_budget: int | None) -> dict:
    config = state.config
    parsed = answers.parse_prompt(prompt)
    matches = answers.choose(parsed, config.confidence_per_missing_candidate)
    finish = "STOP"
    if fault == "invented":
        matches = answers.invented(matches, replace_all=False)
    elif fault == "invented_all":
        matches = answers.invented(matches, replace_all=True)
    text = answers.answer_json(matches)
    if fault == "fenced":
        text = answers.fenced(text)
    elif fault == "malformed":
        text = answers.malformed(parsed)
    elif fault == "truncated":
        text, finish = answers.truncated(text), "MAX_TOKENS"
    elif fault == "empty":
        text = ""

    prompt_tokens = (config.prompt_tokens if config.prompt_tokens is not None
                     else answers.tokens_for(prompt))
    output_tokens = (config.output_tokens if config.output_tokens is not None
                     else answers.tokens_for(text))
    if not text:
        output_tokens = 0
    thinking = (config.thinking_tokens if config.thinking_tokens is not None
                else answers.thinking_tokens_for(prompt))
    if thinking_budget is not None:
        thinking = min(thinking, thinking_budget)
    # the part of the prompt "served from the context cache": only when configured
    cached = min(config.cached_tokens or 0, prompt_tokens)
    billed = {"prompt": prompt_tokens, "output": output_tokens, "thinking": thinking,
              "cached": cached}
    state.tokens.update(billed)
    state.tokens_by_candidates.setdefault(len(parsed.candidates), Counter()).update(billed)

    content: dict = {"role": "model"}
    if text:
        content["parts"] = [{"text": text}]
    usage = {"promptTokenCount": prompt_tokens, "candidatesTokenCount": output_tokens,
             "totalTokenCount": prompt_tokens + output_tokens + thinking,
             "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt_tokens}]}
    if thinking:
        usage["thoughtsTokenCount"] = thinking
    if cached:
        usage["cachedContentTokenCount"] = cached
        usage["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": cached}]
    if not output_tokens:
        del usage["candidatesTokenCount"]  # Gemini leaves zero counts out
    return {
        "candidates": [{"content": content, "finishReason": finish, "index": 0}],
        "usageMetadata": usage,
        "modelVersion": model,
        "responseId": f"emu-{answers.digest(prompt, str(state.calls)):016x}",
    }


class BackgroundEmulator:
    """The emulator served by uvicorn in a daemon thread on 127.0.0.1 and a free port.

        with BackgroundEmulator(EmulatorConfig(latency_ms=50)) as emu:
            client = genai.Client(api_key="x", http_options={"base_url": emu.url})
    """

    def __init__(self, config: EmulatorConfig | None = None, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.app = create_app(config)
        self.state: EmulatorState = self.app.state.emulator
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.host, self.port = self._socket.getsockname()[:2]
        self.url = f"http://{self.host}:{self.port}"
        self._server = uvicorn.Server(uvicorn.Config(
            self.app, log_level="warning", access_log=False, lifespan="off",
            timeout_graceful_shutdown=2))
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 15.0) -> str:
        self._thread = threading.Thread(target=self._server.run,
                                        kwargs={"sockets": [self._socket]},
                                        name="gemini-emulator", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the Gemini emulator did not start")
            time.sleep(0.01)
        return self.url

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        self._socket.close()

    def __enter__(self) -> "BackgroundEmulator":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
