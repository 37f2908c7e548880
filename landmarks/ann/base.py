"""What every index shares: the checks on a user's vectors, the two metrics, ``k``, and the file
format.

Distances are returned as the libraries people compare against return them: for ``"l2"`` the
squared Euclidean distance ‖q − x‖² (hnswlib, faiss), for ``"cosine"`` the cosine distance
1 − cos(q, x). A cosine index stores unit vectors and searches them by L2, since
‖q̂ − x̂‖² = 2 (1 − cos(q, x)): one search path serves both metrics.

An index file is a ``.npz`` (a zip of ``.npy`` arrays) read with ``allow_pickle=False``, so
loading one runs no code; its ``header`` array holds JSON with a format tag and version, the
kind of index, its metric and settings. Writes are atomic (``landmarks.files``).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from landmarks.errors import UserInputError
from landmarks.files import atomic_write_bytes

__all__ = ["FORMAT", "METRICS", "VERSION", "Index", "load_index", "recall_at_k"]

FORMAT = "landmarks-ann"
VERSION = 1
METRICS = ("l2", "cosine")


class Index:
    """One API for every index: ``add``, ``search``, ``save`` and ``load_index``.

    ``last_distance_computations`` holds, after each ``search``, how many distances to stored
    vectors (or centroids) each query computed: the cost the papers count.
    """

    kind: ClassVar[str]
    DEFAULTS: ClassVar[dict[str, int | float]]
    SEARCH_KEYS: ClassVar[tuple[str, ...]] = ()  # settings a single search may override

    def __init__(self, dim: int, metric: str = "l2", **params: Any) -> None:
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
            raise UserInputError(f"dim must be a positive integer, got {dim!r}")
        if metric not in METRICS:
            raise UserInputError(f"metric {metric!r} is not supported; choose from {', '.join(METRICS)}")
        unknown = sorted(set(params) - set(self.DEFAULTS))
        if unknown:
            raise UserInputError(
                f"{self.kind} index has no setting {', '.join(unknown)}; its settings are "
                + ", ".join(f"{k} (default {v})" for k, v in self.DEFAULTS.items())
            )
        self.dim = int(dim)
        self.metric = metric
        self.params: dict[str, Any] = {}
        for key, default in self.DEFAULTS.items():
            self.params[key] = _setting(self.kind, key, params.get(key, default), default)
        self._check_params()
        self.last_distance_computations = np.zeros(0, np.int64)

    # ---- what each index implements ----------------------------------------------------------

    def __len__(self) -> int:
        raise NotImplementedError

    def _check_params(self) -> None:
        """Raise UserInputError for settings that cannot work."""

    def _add(self, x: np.ndarray) -> None:
        raise NotImplementedError

    def _search(self, q: np.ndarray, k: int, **override: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Squared L2 distances (nq, k), ids (nq, k), distance computations per query (nq,)."""
        raise NotImplementedError

    def _arrays(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _restore(self, arrays: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    # ---- the API ------------------------------------------------------------------------------

    def add(self, vectors: Any) -> np.ndarray:
        """Add vectors (count, dim); returns their ids, which continue from the last ``add``."""
        x = self.prepare(vectors, "vectors")
        start = len(self)
        self._add(x)
        return np.arange(start, start + len(x), dtype=np.int64)

    def search(self, queries: Any, k: int, **override: Any) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest stored vectors of each query: (distances, ids), each (nq, k), nearest
        first. An id of -1 (distance inf) marks a slot an approximate index could not fill."""
        if len(self) == 0:
            raise UserInputError("the index is empty; add vectors before searching")
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise UserInputError(f"k must be an integer, got {k!r}")
        if k < 1:
            raise UserInputError(f"k must be >= 1, got {k}")
        if k > len(self):
            raise UserInputError(
                f"k = {k} is larger than the index, which holds {len(self)} vectors; ask for k <= {len(self)}"
            )
        unknown = sorted(set(override) - set(self.SEARCH_KEYS))
        if unknown:
            allowed = ", ".join(self.SEARCH_KEYS) or "none"
            raise UserInputError(
                f"{self.kind} search has no setting {', '.join(unknown)}; allowed: {allowed}"
            )
        override = {
            key: _setting(self.kind, key, v, self.DEFAULTS[key])
            for key, v in override.items()
            if v is not None
        }
        q = self.prepare(queries, "queries")
        d, ids, counts = self._search(q, int(k), **override)
        self.last_distance_computations = counts
        d = np.where(ids >= 0, np.maximum(d, 0), np.inf).astype(np.float32)
        if self.metric == "cosine":
            d = d / 2  # ‖q̂ − x̂‖² = 2 (1 − cos)
        return d, ids

    def prepare(self, vectors: Any, what: str) -> np.ndarray:
        """``vectors`` as a C-contiguous float32 (count, dim) array, unit length for cosine."""
        try:
            x = np.asarray(vectors)
        except Exception as e:  # ragged lists, tensors that need grad, ...
            raise UserInputError(f"{what}: cannot be read as an array ({e})") from None
        if x.dtype.kind not in "fiu":
            raise UserInputError(f"{what} must be numbers, got an array of {x.dtype}")
        if x.ndim != 2:
            raise UserInputError(f"{what} must be a 2-D array (count, {self.dim}), got shape {x.shape}")
        if x.shape[1] != self.dim:
            raise UserInputError(
                f"{what} have dimension {x.shape[1]}, but the index holds {self.dim}-dimensional vectors"
            )
        if len(x) == 0:
            raise UserInputError(f"{what}: the array holds no vectors")
        x = np.ascontiguousarray(x, dtype=np.float32)
        if not np.isfinite(x).all():
            raise UserInputError(f"{what} contain NaN or infinite values")
        if self.metric == "cosine":
            norms = np.linalg.norm(x, axis=1, keepdims=True)
            if (norms == 0).any():
                raise UserInputError(f"{what}: a zero vector has no direction, so no cosine distance")
            x = x / norms
        return x

    def save(self, path: str | Path) -> Path:
        """Write the index to ``path`` (an ``.npz``), atomically: a crash leaves the old file."""
        path = Path(path)
        header = {
            "format": FORMAT,
            "version": VERSION,
            "kind": self.kind,
            "dim": self.dim,
            "metric": self.metric,
            "params": self.params,
            "count": len(self),
        }
        arrays = {"header": np.frombuffer(json.dumps(header).encode(), np.uint8), **self._arrays()}
        atomic_write_bytes(path, lambda f: np.savez(f, **arrays))
        return path

    @classmethod
    def load(cls, path: str | Path) -> Index:
        index = load_index(path)
        if not isinstance(index, cls):
            raise UserInputError(f"{path} holds a {index.kind} index, not a {cls.kind} index")
        return index

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return (
            f"{type(self).__name__}(dim={self.dim}, metric={self.metric!r}, {settings}; {len(self)} vectors)"
        )


def _setting(kind: str, key: str, value: Any, default: Any) -> Any:
    """A setting coerced to its default's type: ints stay ints (``M=16.0`` is fine, 16.5 is not)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UserInputError(f"{kind} setting {key} must be a number, got {value!r}") from None
    if isinstance(default, int):
        if number != int(number):
            raise UserInputError(f"{kind} setting {key} must be a whole number, got {value!r}")
        return int(number)
    return number


def load_index(path: str | Path) -> Index:
    """Read an index written by ``save``. A truncated, foreign or tampered file raises
    UserInputError saying so; nothing in it is unpickled."""
    from landmarks.ann import KINDS

    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"{path}: no such index file" if not path.exists() else f"{path} is not a file")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {name: f[name] for name in f.files}
    except (zipfile.BadZipFile, EOFError, ValueError, OSError, KeyError) as e:
        # numpy reads any file that is neither .npz nor .npy as a pickle, and its refusal suggests
        # loading it unsafely; say what the file is not instead
        reason = "it is not an .npz archive of arrays" if "pickled" in str(e) else e
        raise UserInputError(
            f"{path} is not a readable index file (truncated, or not written by landmarks index): {reason}"
        ) from None
    try:
        header = json.loads(arrays.pop("header").tobytes().decode())
        if header.get("format") != FORMAT:
            raise ValueError("it has no landmarks-ann header")
        if header.get("version") != VERSION:
            raise ValueError(f"format version {header.get('version')} (this landmarks reads {VERSION})")
        if header.get("kind") not in KINDS:
            raise ValueError(f"unknown index kind {header.get('kind')!r}")
        index = KINDS[header["kind"]](header["dim"], header["metric"], **header["params"])
        index._restore(arrays)
        if len(index) != header["count"]:
            raise ValueError(f"the header says {header['count']} vectors, the arrays hold {len(index)}")
    except UserInputError as e:
        raise UserInputError(f"{path} is not a valid index file: {e}") from None
    except (KeyError, ValueError, TypeError, AttributeError, IndexError, UnicodeDecodeError) as e:
        raise UserInputError(f"{path} is not a valid index file: {e}") from None
    return index


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean fraction of the true k nearest neighbours among the k returned (recall@k)."""
    k = truth.shape[1]
    hits = sum(len(np.intersect1d(f[:k], t)) for f, t in zip(found, truth, strict=True))
    return hits / truth.size


def check_arrays(arrays: dict[str, np.ndarray], shapes: dict[str, tuple[int | None, ...]]) -> None:
    """Every named array present with the given shape (None: any length) and a numeric dtype."""
    for name, shape in shapes.items():
        if name not in arrays:
            raise ValueError(f"the array {name!r} is missing")
        a = arrays[name]
        if a.ndim != len(shape) or any(s is not None and s != t for s, t in zip(shape, a.shape, strict=True)):
            raise ValueError(f"the array {name!r} has shape {a.shape}, expected {shape}")
        if a.dtype.kind not in "fiu":
            raise ValueError(f"the array {name!r} holds {a.dtype}, not numbers")
