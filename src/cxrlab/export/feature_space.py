"""A compact description of where a model's penultimate features live (numpy only).

``fit_feature_space(F)`` keeps the mean, a PCA basis of at most 32 directions with their spreads,
and the typical distance *off* that subspace. A film's outlier score is its squared Mahalanobis
distance inside the subspace plus its squared residual relative to the typical residual: about
``k + 1`` for a typical film, much larger for one the training data has nothing like.
``coordinates(F)`` are the whitened PCA coordinates plus the log residual: the few numbers per film
a domain classifier uses to tell training films from a site's. A feature space serialises to
plain lists (no pickle) for the bundle's ``training_profile.json``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_COMPONENTS = 32
_EPS = 1e-12


@dataclass(frozen=True)
class FeatureSpace:
    center: np.ndarray  # (D,)
    basis: np.ndarray  # (k, D) orthonormal rows
    scale: np.ndarray  # (k,) standard deviation along each direction
    residual_ms: float  # mean squared distance off the subspace (reference films)
    explained: float  # share of the total variance the k directions hold

    @property
    def dim(self) -> int:
        return int(self.center.shape[0])

    @property
    def components(self) -> int:
        return int(self.basis.shape[0])

    def project(self, features: np.ndarray) -> np.ndarray:
        """Whitened coordinates ``(N, k)``: unit variance along each direction on the reference."""
        return (self._centered(features) @ self.basis.T) / self.scale

    def residual(self, features: np.ndarray) -> np.ndarray:
        """Squared distance of each film's features from the subspace ``(N,)``."""
        x = self._centered(features)
        inside = (x @ self.basis.T) @ self.basis
        return ((x - inside) ** 2).sum(axis=1)

    def score(self, features: np.ndarray) -> np.ndarray:
        """Outlier score per film (see the module docstring)."""
        return (self.project(features) ** 2).sum(axis=1) + self.residual(features) / max(self.residual_ms, _EPS)

    def coordinates(self, features: np.ndarray) -> np.ndarray:
        """``(N, k + 1)``: whitened coordinates and ``log(1 + residual / typical residual)``."""
        res = np.log1p(self.residual(features) / max(self.residual_ms, _EPS))
        return np.column_stack([self.project(features), res])

    def _centered(self, features: np.ndarray) -> np.ndarray:
        features = np.asarray(features, dtype=np.float64)
        if features.ndim != 2 or features.shape[1] != self.dim:
            raise ValueError(f"features of shape {features.shape} do not match this feature space (D={self.dim})")
        return features - self.center

    def to_dict(self) -> dict:
        return {"dim": self.dim, "components": self.components, "explained_variance": self.explained,
                "residual_mean_square": self.residual_ms, "center": rounded(self.center),
                "scale": rounded(self.scale), "basis": [rounded(row) for row in self.basis]}

    @classmethod
    def from_dict(cls, data: dict) -> FeatureSpace:
        basis = np.asarray(data["basis"], dtype=np.float64).reshape(int(data["components"]), int(data["dim"]))
        return cls(np.asarray(data["center"], dtype=np.float64), basis, np.asarray(data["scale"], dtype=np.float64),
                   float(data["residual_mean_square"]), float(data.get("explained_variance", float("nan"))))


def fit_feature_space(features: np.ndarray, max_components: int = MAX_COMPONENTS) -> FeatureSpace:
    """PCA of ``features (N, D)`` keeping ``min(max_components, N - 1, D)`` directions with non-zero spread."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or len(x) < 3:
        raise ValueError("a feature space needs at least 3 feature vectors")
    center = x.mean(axis=0)
    _, sing, vt = np.linalg.svd(x - center, full_matrices=False)
    var = sing ** 2 / (len(x) - 1)
    k = int(min(max_components, len(x) - 1, x.shape[1]))
    keep = var[:k] > max(var[0], _EPS) * 1e-4  # near-empty directions stay in the residual
    k = max(int(keep.sum()), 1)
    basis, scale = vt[:k], np.sqrt(np.maximum(var[:k], _EPS))
    total = float(var.sum())
    space = FeatureSpace(center, basis, scale, 1.0, float(var[:k].sum() / total) if total > 0 else 1.0)
    residual_ms = float(space.residual(x).mean())
    return FeatureSpace(center, basis, scale, max(residual_ms, _EPS), space.explained)


def rounded(values: np.ndarray, digits: int = 6) -> list[float]:
    """Floats with ``digits`` significant digits (keeps the JSON small)."""
    return [float(f"{v:.{digits}g}") for v in np.asarray(values, dtype=np.float64).ravel()]
