"""Runbook text of the plan's 18 threshold alerts: likely causes and what to do, by
Threshold key. The meaning comes from the Threshold's own description."""

from __future__ import annotations

STAGES = ("Open the Real-time dashboard's *Latency per stage* panel: the stage whose p95 "
          "rose is the lead (embedding, vector_search, llm, json_parsing).")
EXEMPLARS = ("Click an exemplar dot on the latency panel to open one slow request's trace in "
             "Tempo, then its log lines in Loki.")
SCALE_OUT = ("If the service is saturated, add replicas: `docker compose up -d --scale "
             "ai-assist=N` (Prometheus finds every replica by DNS).")

CAUSES_AND_ACTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "latency_p95": (
        ("Gemini is slow or retrying (the llm stage includes retries and their back-off).",
         "The embedding queue is backing up: more texts than the model embeds, or the "
         "model runs on CPU where a GPU was expected.",
         "Very long passages (up to AI_ASSIST_MAX_TEXT_CHARS) make prompts and answers "
         "longer."),
        (STAGES, EXEMPLARS,
         "llm stage: check the Retry ratio and Timeout ratio alerts and Gemini's status page.",
         "embedding stage: check *Embedding queue depth* and the `device` of "
         "ai_assist_build_info on the Health dashboard. " + SCALE_OUT)),
    "latency_p99": (
        ("A minority of requests retries Gemini calls (429, 5xx, timeouts, unusable JSON); "
         "each retry adds a call and a back-off.",
         "Gemini calls that hang until AI_ASSIST_LLM_TIMEOUT_S.",
         "Bursts that fill the embedding queue for a moment."),
        (STAGES, EXEMPLARS,
         "Compare with the p95: a p99 alone means a tail (retries, timeouts), both together "
         "a general slowdown.")),
    "throughput": (
        ("Requests arrive (in progress, queued, or refused by the rate limiter) but few "
         "complete: the service is saturated or stuck.",
         "Gemini calls hang until their timeout and hold the requests.",
         "Clients are refused by the per-client rate limit (AI_ASSIST_RATE_LIMIT_PER_MINUTE).",
         "Replicas are down, so fewer serve the same demand."),
        ("Open the Real-time dashboard: *Requests in progress*, *Embedding queue depth* and "
         "*Throughput by status* show where requests wait.",
         "Check the Health dashboard's *Rejected requests by reason*: `rate_limited` means "
         "clients are refused; raise the limit if they are legitimate.",
         SCALE_OUT)),
    "embedding_p95": (
        ("The micro-batcher's queue is long: more texts than the model embeds per second.",
         "The model runs on CPU (the `device` label of ai_assist_build_info) where a GPU was "
         "expected, or the GPU is busy or short of memory.",
         "A larger model than planned (AI_ASSIST_EMBEDDING_MODEL)."),
        ("Open the Real-time dashboard: *Embedding queue depth* and *Embedding batch size*.",
         "Open the Health dashboard's GPU panels (utilization, memory) and build info.",
         SCALE_OUT)),
    "vector_search_p95": (
        ("ChromaDB's disk is slow or full, or the host's CPU is taken by the embedding model.",
         "The index is being rebuilt (after a catalogue or model change)."),
        ("Check the Health dashboard's `chroma_db` component and the host's disk and CPU.",
         "Look for a restart (`service_starting`, `service_ready`) in the service's logs (Loki): "
         "a new catalogue or model rebuilds the index at start.")),
    "llm_p95": (
        ("Gemini answers slowly (their side), or with many thinking tokens.",
         "Retries: 429 rate limits, 5xx, timeouts and unusable JSON each cost another call.",
         "Longer prompts: more candidates (AI_ASSIST_CANDIDATES) or longer passages."),
        ("Check the Retry ratio and Timeout ratio alerts and the Cost dashboard's *Tokens by "
         "type* (thinking tokens).", EXEMPLARS,
         "Check Gemini's status page and the project's quota in Google AI Studio.")),
    "match_success": (
        ("Many answers come from the embedding-only fallback, whose confidences are lower.",
         "Passages outside what the catalogue covers (not ESG disclosures, another language "
         "than the model handles).",
         "The embedding model or the catalogue changed (a new index)."),
        ("Check the Fallback ratio alert and the Quality dashboard's fallbacks by reason.",
         "Read a few unmatched requests' log lines in Loki (`esg_mapping_completed` with "
         "matches=0); the text itself is never logged, its length and hash are.",
         "Compare ai_assist_build_info's embedding and LLM models with the last good day.")),
    "avg_confidence": (
        ("More fallback answers (their confidence is a similarity, usually lower).",
         "Passages the catalogue does not cover well.",
         "A model change (embedding or LLM)."),
        ("Open the Quality dashboard: *Average confidence over time*, fallback ratio, match "
         "success.",
         "Compare ai_assist_build_info's models with the last good day.")),
    "json_parse_success": (
        ("Gemini answers are cut off at AI_ASSIST_LLM_MAX_OUTPUT_TOKENS (truncated JSON).",
         "A model or prompt change made answers drift from the JSON schema.",
         "Gemini returns empty answers (safety blocks, overload)."),
        ("Open the Quality dashboard's *JSON parse results* (valid, repaired, failed) and the "
         "Cost dashboard's *Wasted tokens by reason*.",
         "If answers are truncated, raise AI_ASSIST_LLM_MAX_OUTPUT_TOKENS.",
         "Read the `gemini_attempt_failed` log lines in Loki (reason invalid_json, "
         "truncated or empty_answer).")),
    "fallback_ratio": (
        ("Gemini fails after every retry: rate limits (429), 5xx, timeouts, connection "
         "errors, unusable JSON; or the deadline runs out first (deadline_exceeded).",
         "Gemini kept failing and the circuit breaker opened (circuit_open): see "
         "AIAssistGeminiCircuitOpen.",
         "The LLM is off: no API key, no base URL, or AI_ASSIST_LLM_ENABLED=false.",
         "The Gemini quota (requests or tokens per day) is spent."),
        ("Open the Quality dashboard's *Fallbacks by reason*: the reason names the failure.",
         "Check the Health dashboard's `gemini_api` component and Gemini's status page.",
         "For `rate_limited`: check the quota in Google AI Studio; for `llm_disabled`: the "
         "service's GEMINI_API_KEY and AI_ASSIST_GEMINI_BASE_URL.")),
    "daily_tokens": (
        ("More traffic than planned, or a client re-sending the same passages.",
         "Longer prompts (more candidates) or more thinking tokens.",
         "Retries: each one bills its tokens again."),
        ("Open the Cost dashboard: *Tokens by type*, *Cost per hour by model* and the advice "
         "panels (prompt reduction, response cache).",
         "Check the Retry ratio alert; a high retry ratio multiplies the bill.",
         "Find the clients behind the traffic in the service's logs (the `client_id` "
         "field: the API key's name, or the peer address).")),
    "avg_input_tokens": (
        ("More candidates in the prompt (AI_ASSIST_CANDIDATES) or longer disclosure "
         "descriptions in the catalogue.", "Longer passages from clients."),
        ("Open the Cost dashboard's *Advice: shorten prompts by* panel.",
         "Lower AI_ASSIST_CANDIDATES if match quality allows (watch Match success).")),
    "avg_output_tokens": (
        ("More thinking tokens (billed as output) from the model.",
         "Longer explanations, or more matches per answer (top_k)."),
        ("Open the Cost dashboard's *Tokens by type*: thinking vs output.",
         "Consider a thinking budget for the model, or a shorter explanation in the prompt.")),
    "daily_api_requests": (
        ("More traffic, or retries (every attempt counts against the quota).",
         "Duplicate requests that a cache would answer."),
        ("Check the Retry ratio alert and the Cost dashboard's *Advice: a response cache "
         "would save*.",
         "Compare with the requests-per-day quota of the Gemini project.")),
    "error_rate": (
        ("Gemini fails and the fallback is off (AI_ASSIST_FALLBACK_ENABLED=false), so "
         "failures become 502s.",
         "The embedding model or ChromaDB fails (503), or the embedding queue is full.",
         "A bug: InternalError in the errors by type panel.",
         "A recent deploy."),
        ("Open the Health dashboard's *Errors by type and severity*.",
         "Read the error log lines in Loki (level=error); each carries error_type, the stack "
         "trace and a trace id.",
         "If a deploy preceded the rise, roll it back.")),
    "retry_ratio": (
        ("Gemini rate limits (429): the project's quota is near its limit.",
         "Gemini 5xx or timeouts, or answers that are not usable JSON."),
        ("Read the `gemini_attempt_failed` log lines in Loki: `reason` and `status_code` name "
         "the failure (in Prometheus: `gemini_api_retries_total` by `reason`).",
         "For rate limits: check the quota, lower traffic or request more quota.",
         "For invalid JSON: see the JSON parse success alert.")),
    "timeout_ratio": (
        ("Gemini answers slower than AI_ASSIST_LLM_TIMEOUT_S.",
         "Network trouble between the service and Gemini."),
        ("Compare the LLM call time (p95) with AI_ASSIST_LLM_TIMEOUT_S.",
         "Check Gemini's status page; raise the timeout only if slow answers are expected.")),
    "availability": (
        ("Requests fail with 5xx: see the Error rate alert, whose ratio this is the "
         "complement of.",),
        ("Follow the Error rate runbook entry.",
         "Check the SLO error budget (AIAssistAvailabilityBudgetBurn) to decide how urgent "
         "the fix is.")),
}
