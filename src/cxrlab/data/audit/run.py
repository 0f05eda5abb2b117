"""Leakage audit: exact and near-duplicate films, and what they leak.

:func:`run_audit` finds

- *exact* duplicates: rows with the same decoded pixels (manifest ``pixel_sha1``), whatever the file;
- *near* duplicates: the same film re-encoded, resized, slightly cropped or re-windowed
  (:mod:`cxrlab.data.audit.duplicates`, run once per distinct picture);

joins them into duplicate groups (connected components; ``dup_group`` column) and flags groups
whose labels disagree, that span sources or splits, and patients found on two sides of a split.
Writing the outputs is :mod:`cxrlab.data.audit.report`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from cxrlab.data.audit.thumbnails import read_thumbnails
from cxrlab.data.audit.duplicates import DuplicateConfig, near_duplicate_pairs
from cxrlab.io.parallel import Progress

PAIR_COLUMNS = ("path_a", "path_b", "kind", "score", "source_a", "source_b", "label_a", "label_b",
                "split_a", "split_b", "cross_source", "label_conflict", "cross_split")


@dataclass(frozen=True)
class AuditResult:
    manifest: pd.DataFrame  # the input rows with ``dup_group`` ("" for unique films)
    pairs: pd.DataFrame  # PAIR_COLUMNS, one row per duplicate pair found
    groups: pd.DataFrame  # one row per duplicate group
    patient_leaks: pd.DataFrame  # patients whose films are in more than one split
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    seconds: float = 0.0
    near_threshold: float = 0.0

    def summary(self) -> dict:
        """Flat counts plus a few short lists (JSON-ready)."""
        g = self.groups
        near = g[g["kind"] == "near"] if len(g) else g
        return {
            "images": int(len(self.manifest)),
            "unreadable": len(self.unreadable),
            "exact_pairs": int((self.pairs["kind"] == "exact").sum()),
            "near_pairs": int((self.pairs["kind"] == "near").sum()),
            "duplicate_groups": int(len(g)),
            "exact_groups": int(len(g) - len(near)),
            "near_groups": int(len(near)),
            "images_in_groups": int(g["size"].sum()) if len(g) else 0,
            "redundant_images": int((g["size"] - 1).sum()) if len(g) else 0,
            "cross_source_groups": int(g["cross_source"].sum()) if len(g) else 0,
            "label_conflict_groups": int(g["label_conflict"].sum()) if len(g) else 0,
            "cross_split_groups": int(g["cross_split"].sum()) if len(g) else 0,
            "patients_across_splits": int(len(self.patient_leaks)),
            "near_threshold": self.near_threshold,
            "seconds": round(self.seconds, 1),
            "groups_by_sources": _top_counts(g, "sources"),
            "label_conflicts": _examples(g[g["label_conflict"]] if len(g) else g),
            "unreadable_files": [{"path": p, "reason": r} for p, r in self.unreadable[:10]],
        }


def run_audit(
    df: pd.DataFrame,
    *,
    workers: int = 2,
    progress: Progress | None = None,
    config: DuplicateConfig | None = None,
) -> AuditResult:
    """Audit a manifest (``path`` absolute, as from ``read_manifest``)."""
    start = time.perf_counter()
    cfg = config or DuplicateConfig()
    df = df.reset_index(drop=True)
    sha1s = _col(df, "pixel_sha1").tolist()
    seen: set[str] = set()
    order = [i for i, s in enumerate(sha1s) if not s or not (s in seen or seen.add(s))]  # one row per picture
    thumbs = read_thumbnails([df["path"][i] for i in order], [sha1s[i] for i in order], size=cfg.thumb_size,
                             read_size=cfg.read_size, workers=workers, progress=progress)
    for k, i in enumerate(order):  # rows without a manifest pixel_sha1 got one while reading
        sha1s[i] = sha1s[i] or thumbs.pixel_sha1[k]
    first: dict[str, int] = {}
    rep_of = [first.setdefault(s, i) if s else i for i, s in enumerate(sha1s)]
    searched = [k for k, i in enumerate(order) if thumbs.ok[k] and rep_of[i] == i]
    near = near_duplicate_pairs(thumbs.images[searched], cfg)
    edges = [(rep_of[i], i, 1.0, "exact") for i in range(len(df)) if rep_of[i] != i]
    edges += [(order[searched[a]], order[searched[b]], float(s), "near") for a, b, s in near.itertuples(index=False)]
    out = df.copy()
    out["pixel_sha1"] = sha1s
    out["dup_group"] = component_labels(len(df), [(a, b) for a, b, _, _ in edges])
    pairs = pair_table(out, edges)
    return AuditResult(
        manifest=out, pairs=pairs, groups=group_table(out), patient_leaks=patient_leaks(out),
        unreadable=[(df["path"][order[k]], reason) for k, reason in sorted(thumbs.errors.items())],
        seconds=time.perf_counter() - start, near_threshold=cfg.near_threshold,
    )


def component_labels(n: int, edges: list[tuple[int, int]]) -> list[str]:
    """``dup-00001``... for rows in a connected component of 2+ rows (numbered by first row), else ""."""
    if not edges:
        return [""] * n
    a, b = np.array(edges, dtype=np.int64).T
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    sizes = np.bincount(comp)
    names: dict[int, str] = {}
    out = []
    for c in comp:
        if sizes[c] < 2:
            out.append("")
            continue
        out.append(names.setdefault(int(c), f"dup-{len(names) + 1:05d}"))
    return out


def _col(df: pd.DataFrame, name: str) -> pd.Series:
    return df[name].fillna("").astype(str) if name in df.columns else pd.Series([""] * len(df), index=df.index)


def pair_table(df: pd.DataFrame, edges: list[tuple[int, int, float, str]]) -> pd.DataFrame:
    if not edges:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in PAIR_COLUMNS})
    a, b, score, kind = (list(x) for x in zip(*edges))
    source, label, split = _col(df, "source").to_numpy(), _col(df, "label").to_numpy(), _col(df, "split").to_numpy()
    out = pd.DataFrame({
        "path_a": df["path"].to_numpy()[a], "path_b": df["path"].to_numpy()[b], "kind": kind, "score": score,
        "source_a": source[a], "source_b": source[b], "label_a": label[a], "label_b": label[b],
        "split_a": split[a], "split_b": split[b],
    })
    out["cross_source"] = out["source_a"] != out["source_b"]
    out["label_conflict"] = out["label_a"] != out["label_b"]
    out["cross_split"] = (out["split_a"] != out["split_b"]) & (out["split_a"] != "") & (out["split_b"] != "")
    return out.sort_values(["kind", "score"], ascending=[True, False], kind="stable").reset_index(drop=True)


def group_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per duplicate group: size, kind (exact = identical pixels), sources, labels, splits, flags."""
    cols = ["dup_group", "size", "kind", "sources", "labels", "splits", "cross_source", "label_conflict",
            "cross_split", "paths"]
    dups = df[df["dup_group"] != ""]
    if dups.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    view = pd.DataFrame({"dup_group": dups["dup_group"], "path": dups["path"], "source": _col(dups, "source"),
                         "label": _col(dups, "label"), "split": _col(dups, "split"),
                         "pixel_sha1": _col(dups, "pixel_sha1")})
    rows = []
    for name, g in view.groupby("dup_group", sort=True):
        splits = sorted(s for s in set(g["split"]) if s)
        exact = g["pixel_sha1"].iloc[0] != "" and g["pixel_sha1"].nunique() == 1
        rows.append({
            "dup_group": name, "size": len(g), "kind": "exact" if exact else "near",
            "sources": " | ".join(sorted(set(g["source"]))), "labels": " | ".join(sorted(set(g["label"]))),
            "splits": " | ".join(splits), "cross_source": g["source"].nunique() > 1,
            "label_conflict": g["label"].nunique() > 1, "cross_split": len(splits) > 1,
            "paths": " ; ".join(g["path"]),
        })
    return pd.DataFrame(rows, columns=cols)


def patient_key(source: str, patient_id: str) -> str:
    """Patient ids are namespaced by source unless they already carry a namespace (``ns:id``)."""
    return patient_id if ":" in patient_id else f"{source}:{patient_id}"


def patient_leaks(df: pd.DataFrame) -> pd.DataFrame:
    """Patients (non-empty ``patient_id``) with films in more than one split."""
    cols = ["patient", "splits", "images"]
    pid, split = _col(df, "patient_id"), _col(df, "split")
    has = (pid != "") & (split != "")
    if not has.any():
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    keys = [patient_key(s, p) for s, p in zip(_col(df, "source")[has], pid[has])]
    view = pd.DataFrame({"patient": keys, "split": split[has].to_numpy()})
    agg = view.groupby("patient")["split"].agg(lambda s: " | ".join(sorted(set(s))))
    sizes = view.groupby("patient").size()
    leaks = agg[agg.str.contains(r"\|", regex=True)]
    return pd.DataFrame({"patient": leaks.index, "splits": leaks.to_numpy(), "images": sizes[leaks.index].to_numpy()},
                        columns=cols)


def _top_counts(groups: pd.DataFrame, column: str, limit: int = 10) -> list[dict]:
    if groups.empty:
        return []
    counts = groups[column].value_counts().head(limit)
    return [{column: k, "groups": int(v)} for k, v in counts.items()]


def _examples(groups: pd.DataFrame, limit: int = 10) -> list[dict]:
    return [{"dup_group": r.dup_group, "labels": r.labels, "sources": r.sources, "paths": r.paths}
            for r in groups.head(limit).itertuples()]
