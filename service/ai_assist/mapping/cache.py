"""The response cache: an LLM answer kept for a while and served again, without the
embedding, the vector search or Gemini, to a request that asks exactly the same thing.

Off by default (AI_ASSIST_CACHE_ENABLED). See docs/operations/cache.md for when to
turn it on; the cost dashboard's "Advice: a response cache would save" and
`python -m ai_assist.costreport` measure how much of the traffic repeats itself.

What counts as the same request: the key is a sha256 of
- the text, normalised: Unicode NFC (canonically equivalent strings, e.g. a Hangul
  syllable typed precomposed or as jamo, are one text) and every run of whitespace
  collapsed to one space, ends stripped (a passage copied with other line breaks or
  indentation is the same passage). Case is kept: the embedding model and Gemini both
  see case, acronyms carry it ("US" vs "us"), and an answer must be the one the service
  would give this text, so only changes that cannot change the meaning are folded.
  Zero-width and other format characters are kept for the same reason;
- the frameworks asked (in the catalogue's order, as validation returns them), top_k;
- the experiment variant's name and what it changes (ai_assist/experiments), "" when none;
- the tenant (AI_ASSIST_CACHE_SCOPE=tenant, the default): the API key's name, else the
  company_id, else the client address, so an answer is only ever served to the tenant
  whose request made it. Otherwise a hit (its `cached: true`, its X-Cache header, its
  speed) would tell any key holder that someone else sent this exact passage within the
  TTL. AI_ASSIST_CACHE_SCOPE=shared leaves the tenant out: for single-tenant services;
- the catalogue's fingerprint (its content and the embedding model's identity: the one
  that decides when the vector index is rebuilt), and the LLM's fingerprint: Gemini
  model, candidates handed to it, output limit, temperature, thinking budgets, the
  prompt's text and versions, and the service version (a release starts a fresh cache).
The key never holds the text; the value holds the answer (matches with their rationales,
which may quote the passage: a shared Redis holds that much of what users sent, for
AI_ASSIST_CACHE_TTL_S).

Only successful LLM answers are stored: never a fallback (it would hide a Gemini outage
from the fallback ratio for as long as the entry lives, and return a worse answer after
Gemini is back), never an error. A hit is still a request in every user-facing figure
(status success, its real, short latency, its matches and confidence); it makes no
Gemini call and bills no token, so the token and call counters do not move, and
esg_mapping_cache_tokens_saved_total counts what the stored answer had cost.

Where it lives: in this process by default (cachetools.TTLCache: a TTL and an LRU size
bound, AI_ASSIST_CACHE_MAX_ENTRIES; each replica has its own), in Redis when
AI_ASSIST_REDIS_URL is set (redis-py's asyncio client, values as JSON, the TTL as SET ...
EX; every replica shares it; the size bound is then Redis's own maxmemory policy, e.g.
allkeys-lru, and Redis counts its evictions in INFO). Redis errors fail open: the request
runs the pipeline as if it had missed, esg_mapping_cache_errors_total counts the failed
operation, and one warning is logged per outage. The Redis connection pool, its timeouts
and the fail-open guard are the ones the rate limiter uses too (ai_assist/shared_store.py):
after a failure Redis is left alone for a growing backoff (operations meanwhile count as
failed without a connection attempt), so a frozen Redis is not stormed with connections.
"""

from __future__ import annotations

import hashlib
import json
import time
import unicodedata
from dataclasses import asdict, dataclass, field

from cachetools import TTLCache

from ai_assist.mapping.types import LLMResult, Match
from ai_assist.pricing import TokenUsage
from ai_assist.shared_store import BACKEND, SharedStore
from ai_assist.telemetry.logging import get_logger
from ai_assist.telemetry.metrics import TOKEN_TYPES, Metrics

KEY_PREFIX = "ai_assist:cache:v1:"
CACHE_HEADER = "X-Cache"  # hit | miss, on every answer while the cache is on
log = get_logger("ai_assist.cache")


def normalise_text(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


def digest(payload: object) -> str:
    data = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                      default=str)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def variant_identity(variant) -> dict:
    """The variant's name and what it changes; {} without one."""
    if variant is None:
        return {}
    return {"name": variant.name, "changes": variant.changes()}


@dataclass(frozen=True)
class CachedAnswer:
    matches: list[Match]
    model: str
    tokens: dict[str, int] = field(default_factory=dict)  # billed, by token type

    def to_json(self) -> str:
        return json.dumps({"matches": [asdict(m) for m in self.matches], "model": self.model,
                           "tokens": self.tokens}, ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str | bytes) -> CachedAnswer:
        data = json.loads(raw)
        return cls([Match(**m) for m in data["matches"]], data["model"],
                   {k: int(v) for k, v in data.get("tokens", {}).items()})


def billed_tokens(answer: LLMResult) -> dict[str, int]:
    """What the LLM stage was billed for an answer (every attempt), by token type."""
    return TokenUsage.from_gemini(answer.input_tokens, answer.output_tokens,
                                  answer.thinking_tokens, answer.cached_input_tokens).by_type()


class _SizeBoundCache(TTLCache):
    """TTLCache that reports the entries it drops to stay within its size."""

    def __init__(self, maxsize: int, ttl: float, on_evict, timer=time.monotonic) -> None:
        super().__init__(maxsize, ttl, timer)
        self._on_evict = on_evict

    def popitem(self):
        item = super().popitem()
        self._on_evict()
        return item


class MemoryStore:
    shared = False
    name = "memory (per replica)"

    def __init__(self, max_entries: int, ttl_s: float, on_evict, timer=time.monotonic) -> None:
        self._entries = _SizeBoundCache(max_entries, ttl_s, on_evict, timer)

    async def get(self, key: str) -> str | None:
        return self._entries.get(key)

    async def set(self, key: str, value: str) -> None:
        self._entries[key] = value

    async def aclose(self) -> None:
        pass


class RedisStore:
    """The entries in the shared Redis (its client is the service's, closed with it)."""

    shared = True
    name = BACKEND

    def __init__(self, store: SharedStore, ttl_s: float) -> None:
        self.ttl_s = max(1, round(ttl_s))
        self._client = store.client

    async def get(self, key: str) -> str | None:
        return await self._client.get(key)

    async def set(self, key: str, value: str) -> None:
        await self._client.set(key, value, ex=self.ttl_s)

    async def aclose(self) -> None:
        pass


class ResponseCache:
    def __init__(self, metrics: Metrics, *, ttl_s: float, max_entries: int,
                 shared: SharedStore | None, scope: dict, timer=time.monotonic) -> None:
        self.metrics = metrics
        self.store = (RedisStore(shared, ttl_s) if shared else
                      MemoryStore(max_entries, ttl_s, metrics.cache_evictions.inc, timer))
        self.scope = digest(scope)  # catalogue and LLM fingerprints
        # Redis's errors fail open (a miss); memory never fails
        self._guard = shared.fail_open(
            lambda operation: metrics.cache_errors.labels(operation).inc(),
            down="cache_storage_unavailable", recovered="cache_storage_recovered",
            action="requests run the whole pipeline until it is back",
            logger=log) if shared else None

    def key(self, text: str, frameworks: tuple[str, ...], top_k: int, variant=None,
            tenant: str | None = None) -> str:
        """The entry's key; `tenant` None: shared by every client."""
        fields = {"text": normalise_text(text), "frameworks": list(frameworks),
                  "top_k": top_k, "variant": variant_identity(variant), "scope": self.scope}
        if tenant is not None:
            fields["tenant"] = tenant
        return KEY_PREFIX + digest(fields)

    async def get(self, key: str) -> CachedAnswer | None:
        raw = await self._guarded("get", lambda: self.store.get(key))
        answer = None
        if raw is not None:
            try:
                answer = CachedAnswer.from_json(raw)
            except (ValueError, KeyError, TypeError) as exc:  # foreign or damaged entry
                log.warning("cache_entry_unreadable", error=f"{type(exc).__name__}: {exc}"[:200])
        self.metrics.cache_lookups.labels("hit" if answer else "miss").inc()
        if answer:
            for kind, count in answer.tokens.items():
                if count and kind in TOKEN_TYPES:
                    self.metrics.cache_tokens_saved.labels(kind, answer.model).inc(count)
        return answer

    async def put(self, key: str, answer: CachedAnswer) -> None:
        await self._guarded("set", lambda: self.store.set(key, answer.to_json()))

    async def _guarded(self, operation: str, make_call):
        if self._guard is None:
            return await make_call()
        return await self._guard.call(operation, make_call, None)

    async def aclose(self) -> None:
        await self.store.aclose()


def llm_fingerprint(settings) -> dict:
    """What decides an LLM answer besides the request: the model and how it is asked."""
    from ai_assist.mapping import llm, prompt

    return {"model": settings.gemini_model, "candidates": settings.candidates,
            "max_output_tokens": settings.llm_max_output_tokens,
            "temperature": llm.TEMPERATURE, "thinking": llm.THINKING_BUDGETS,
            "prompt": digest([prompt.INSTRUCTIONS, prompt.PROMPT_VERSIONS,
                              prompt.DESCRIPTION_CHARS, prompt.MAX_DESCRIPTION_CHARS]),
            "version": settings.version}


def build_cache(settings, metrics: Metrics, catalogue_fingerprint: str,
                shared: SharedStore | None = None) -> ResponseCache:
    """The cache, in `shared` (the service's Redis) when there is one, else in memory."""
    cache = ResponseCache(metrics, ttl_s=settings.cache_ttl_s,
                          max_entries=settings.cache_max_entries, shared=shared,
                          scope={"catalogue": catalogue_fingerprint,
                                 "llm": llm_fingerprint(settings)})
    log.info("response_cache_on", backend=cache.store.name, ttl_s=settings.cache_ttl_s,
             max_entries=None if cache.store.shared else settings.cache_max_entries)
    return cache
