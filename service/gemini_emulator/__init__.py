"""A Gemini API emulator for the demo and the tests: the real google-genai client talks to
it through its base URL (`http_options=types.HttpOptions(base_url=...)`).

It serves `POST /{v1,v1beta}/models/{model}:generateContent` with Gemini's request and
response JSON (candidates[].content.parts[].text, finishReason, usageMetadata with
promptTokenCount / candidatesTokenCount / thoughtsTokenCount / totalTokenCount,
modelVersion, responseId) and Gemini's error JSON ({"error": {"code", "message",
"status"}}). A request needs an API key (x-goog-api-key header or ?key=), any value.

The answer: the model "reads" the prompt built by ai_assist.mapping.prompt, picks the
candidates whose title and description share the most words with the passage, weighted
by their similarity (1..top_k of them, confidences 0.55..0.97, a one-sentence rationale),
deterministically for the same prompt. Tokens: about chars / 4 for prompt and answer,
thinking tokens a deterministic 50..300 (capped by thinkingConfig.thinkingBudget).

Faults, by a marker anywhere in the request text:

    [[emulate:FAULT]]      every call carrying this marker gets FAULT
    [[emulate:FAULT*N]]    the first N calls with this exact prompt get FAULT, later
                           ones succeed (so retries can be tested deterministically)

Several markers apply in order: `[[emulate:503*1]] [[emulate:malformed*1]]` answers
503, then malformed JSON, then succeeds. FAULT is one of:

    400           HTTP 400 INVALID_ARGUMENT (a client error, not worth retrying)
    429           HTTP 429 RESOURCE_EXHAUSTED (with RetryInfo when retry_delay_s is set)
    500           HTTP 500 INTERNAL
    503           HTTP 503 UNAVAILABLE ("The model is overloaded")
    timeout       holds the request until the client gives up (or hang_s passes,
                  then HTTP 504 DEADLINE_EXCEEDED)
    hang          holds the request until the client gives up, however long that is
                  (a Gemini that never answers)
    malformed     HTTP 200, finishReason STOP, prose with no JSON in it (unrepairable)
    truncated     HTTP 200, finishReason MAX_TOKENS, the JSON cut inside its last match
    empty         HTTP 200, finishReason STOP, a candidate with no parts (no text)
    fenced        HTTP 200, the JSON in ```json fences with a trailing comma (repairable)
    invented      HTTP 200, valid JSON with an extra disclosure id not among the candidates
    invented_all  HTTP 200, valid JSON whose ids are all not among the candidates
    not_json      HTTP 200, Content-Type application/json, a body that is not JSON (an
                  HTML error page from a proxy in front of the API)

An unknown marker is answered with HTTP 400 naming the known ones.
Without a marker, faults come at the configured rates (fault_rates, drawn from a
generator seeded by `seed`).

Runtime control (JSON):
    GET  /healthz
    GET  /_emulator/config     the config: latency_ms, jitter_ms, fault_rates {FAULT: p},
                               seed, prompt_tokens, output_tokens, thinking_tokens
                               (null: computed), hang_s, retry_delay_s,
                               confidence_per_missing_candidate (A/B tests' planted
                               difference: confidences drop by this per candidate the
                               prompt has fewer than 12)
    POST /_emulator/config     change some keys (a partial object); answers the config
    POST /_emulator/reset      back to the start-up config; clears stats and marker counts
    GET  /_emulator/stats      {"calls", "in_flight", "abandoned", "by_outcome": {...},
                               "tokens": {...}, "tokens_by_candidates": {"N": {...}}
                               (by candidates in the prompt)}: calls received, held now, given up by
                               their client while held (timeout / hang / latency)

Run it: `python -m gemini_emulator --host 127.0.0.1 --port 8090 --latency-ms 150`
(see --help), or in-process for tests: `with BackgroundEmulator(config) as emu: emu.url`.
"""

from gemini_emulator.config import FAULTS, ConfigError, EmulatorConfig
from gemini_emulator.server import BackgroundEmulator, create_app

__all__ = ["FAULTS", "BackgroundEmulator", "ConfigError", "EmulatorConfig", "create_app"]
