"""Adult or pediatric? A ``population`` per manifest row, from the evidence there is.

Public COVID collections mix children and adults by class (on ``../shared/cxr-data`` nearly every
Pneumonia film is pediatric and every COVID film adult), so a model can learn *child => pneumonia*.
:func:`infer_population` labels each row ``adult``, ``pediatric`` or ``unknown`` from, strongest first:

1. a user override table (CSV: ``population`` plus ``path`` or ``sha1``; rows with only ``source``
   set a default for that source, used last: after the evidence below and copies);
2. the patient's age (< 18 years = pediatric): a manifest ``age``/``patient_age`` column, the DICOM
   ``PatientAge`` of ``.dcm`` files, or an ieee8023-style ``metadata.csv`` (``filename``, ``age``)
   beside or above the image (``_orig_meta/metadata.csv`` too);
3. COVID-CXNet file names ending in ``p`` (``446p.jpg``, ``481p-.jpg``: pediatric per its README);
4. sources known to be pediatric (:data:`KNOWN_SOURCES`: Kermany's Normal/Pneumonia films; a film
   whose copies are labelled COVID anywhere is not from Kermany, which predates COVID);
5. copies: rows sharing a ``dup_group`` (``cxrlab audit``) take the population of their group when
   the evidence in the group agrees (conflicting groups stay ``unknown``).
Nothing is guessed: rows without evidence are ``unknown``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from cxrlab.data.population.age import dicom_ages, manifest_ages, metadata_ages
from cxrlab.errors import ConfigError
from cxrlab.labels import LabelScheme

ADULT, PEDIATRIC, UNKNOWN = "adult", "pediatric", "unknown"
ADULT_AGE = 18.0  # years
POPULATIONS = (ADULT, PEDIATRIC, UNKNOWN)
_CXNET_PEDIATRIC = re.compile(r"^\d+p-?$", re.IGNORECASE)


@dataclass(frozen=True)
class SourceRule:
    """Rows of ``source`` (with one of ``labels``; ``()`` = any label) belong to ``population``."""

    source: str
    population: str
    labels: tuple[str, ...] = ()
    note: str = ""


KNOWN_SOURCES = (
    SourceRule("kermany-pediatric", PEDIATRIC, ("Normal", "Pneumonia", "Pneumonia-Viral", "Pneumonia-Bacterial"),
               "Kermany et al. 2018 pediatric set (Guangzhou, ages 1-5); its COVID films come from ieee8023"),
)


def infer_population(
    df: pd.DataFrame,
    *,
    overrides: pd.DataFrame | None = None,
    sources: tuple[SourceRule, ...] = KNOWN_SOURCES,
    read_files: bool = True,
) -> pd.Series:
    """``adult`` / ``pediatric`` / ``unknown`` per row of ``df`` (same index).

    ``read_files=False`` skips DICOM headers and metadata tables (manifest columns only).
    """
    pop = pd.Series(UNKNOWN, index=df.index, dtype=object)
    if overrides is not None:
        pop = _apply_row_overrides(pop, df, overrides)
    labels, srcs, paths, groups = _text(df, "label"), _text(df, "source"), _text(df, "path"), _text(df, "dup_group")
    ages = manifest_ages(df)
    if read_files:
        ages = ages.fillna(dicom_ages(paths)).fillna(metadata_ages(paths))
    by_age = (pop == UNKNOWN) & ages.notna()
    pop[by_age] = [PEDIATRIC if a < ADULT_AGE else ADULT for a in ages[by_age]]
    stems = paths.map(lambda p: Path(p).stem)
    cxnet = srcs.str.lower().str.contains("cxnet") & stems.str.match(_CXNET_PEDIATRIC)
    pop[(pop == UNKNOWN) & cxnet] = PEDIATRIC
    user_sources = _override_sources(overrides)
    replaced = {rule.source for rule in user_sources}
    pop = _apply_source_rules(pop, [r for r in sources if r.source not in replaced], srcs, labels, groups)
    pop = _propagate(pop, groups)
    if user_sources:  # a user's whole-source default fills what the evidence left open, then copies
        pop = _propagate(_apply_source_rules(pop, user_sources, srcs, labels, groups), groups)
    if overrides is not None:
        pop = _apply_row_overrides(pop, df, overrides)  # a user's word is final, even against a group
    return pop


def _apply_source_rules(pop, rules, srcs, labels, groups) -> pd.Series:
    """Unknown rows of each rule's source (and labels) take its population; first rule wins."""
    out = pop.copy()
    covid_groups = set(groups[labels == "COVID"]) - {""}
    for rule in rules:
        hit = (srcs == rule.source) & (out == UNKNOWN) & _rule_labels(rule, labels)
        if rule.population == PEDIATRIC and rule.labels and "COVID" not in rule.labels:
            hit &= ~groups.isin(covid_groups)  # a copy of a COVID film is not from a pre-COVID set
        out[hit] = rule.population
    return out


def _rule_labels(rule: SourceRule, labels: pd.Series) -> pd.Series:
    return labels.isin(rule.labels) if rule.labels else pd.Series(True, index=labels.index)


def _propagate(pop: pd.Series, groups: pd.Series) -> pd.Series:
    """Unknown rows in a duplicate group take the group's population when the group agrees."""
    out = pop.copy()
    decided = pd.DataFrame({"group": groups, "pop": pop})[(groups != "") & (pop != UNKNOWN)]
    agreed = decided.groupby("group")["pop"].agg(lambda s: s.iloc[0] if s.nunique() == 1 else UNKNOWN)
    fill = (out == UNKNOWN) & groups.isin(agreed.index)
    out[fill] = groups[fill].map(agreed)
    return out


def add_population(df: pd.DataFrame, **kwargs) -> pd.DataFrame:
    """A copy of ``df`` with a ``population`` column (see :func:`infer_population`)."""
    out = df.copy()
    out["population"] = infer_population(df, **kwargs)
    return out


def filter_population(df: pd.DataFrame, keep: str, *, on_unknown: str = "keep") -> pd.DataFrame:
    """Rows of population ``keep`` (``adult``/``pediatric``); ``unknown`` rows kept or dropped."""
    if keep not in (ADULT, PEDIATRIC):
        raise ConfigError(f"population must be '{ADULT}' or '{PEDIATRIC}', got {keep!r}")
    if on_unknown not in ("keep", "drop"):
        raise ConfigError(f"on_unknown must be 'keep' or 'drop', got {on_unknown!r}")
    pop = df["population"] if "population" in df.columns else infer_population(df)
    mask = (pop == keep) | ((pop == UNKNOWN) & (on_unknown == "keep"))
    return df[mask]


def population_table(df: pd.DataFrame, scheme: LabelScheme | None = None) -> pd.DataFrame:
    """Images per (source, population) row and label (or scheme class) column, plus ``total``."""
    pop = df["population"] if "population" in df.columns else infer_population(df)
    table = pd.crosstab([_text(df, "source"), pop.rename("population")], _classes(df, scheme).rename("label"))
    table.index.names = ["source", "population"]
    table["total"] = table.sum(axis=1)
    return table


def pediatric_warnings(df: pd.DataFrame, scheme: LabelScheme | None = None, *, mostly: float = 0.5) -> list[str]:
    """Plain warnings: pediatric films present, and classes that are mostly pediatric (a shortcut)."""
    pop = df["population"] if "population" in df.columns else infer_population(df)
    labels = _classes(df, scheme)
    n_ped = int((pop == PEDIATRIC).sum())
    if n_ped == 0:
        return []
    out = [f"{n_ped} of {len(df)} films are pediatric; adults and children look different on a chest X-ray."]
    for label in sorted(set(labels) - {lab for lab in labels if lab.startswith("(")}):
        in_label = labels == label
        share = float((pop[in_label] == PEDIATRIC).mean())
        if share >= mostly:
            out.append(
                f"{label}: {share:.0%} of its {int(in_label.sum())} films are pediatric; a model can learn "
                f"'child => {label}' instead of the disease. Compare with an adult-only run "
                f"(--exclude pediatric) or evaluate adults and children separately.")
    return out


# --- user overrides ---------------------------------------------------------------------------

def read_overrides(path: str | Path) -> pd.DataFrame:
    """A population override table: CSV with ``population`` and ``path``, ``sha1`` or ``source``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: population override table not found")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as exc:
        raise ConfigError(f"{path}: not a readable CSV ({exc})") from None
    table.columns = [str(c).strip().lower() for c in table.columns]
    if "population" not in table.columns or not {"path", "sha1", "source"} & set(table.columns):
        raise ConfigError(f"{path}: needs a 'population' column and one of 'path', 'sha1', 'source'")
    bad = sorted(set(table["population"].str.strip().str.lower()) - set(POPULATIONS))
    if bad:
        raise ConfigError(f"{path}: unknown population value(s) {', '.join(bad)} (use {', '.join(POPULATIONS)})")
    table["population"] = table["population"].str.strip().str.lower()
    if "path" in table.columns:
        table["path"] = [p if not p or os.path.isabs(p) else os.path.normpath(path.resolve().parent / p)
                         for p in table["path"]]
    return table


def _override_sources(overrides: pd.DataFrame | None) -> tuple[SourceRule, ...]:
    if overrides is None or "source" not in overrides.columns:
        return ()
    rows = overrides[(overrides["source"] != "") & (_text(overrides, "path") == "") & (_text(overrides, "sha1") == "")]
    return tuple(SourceRule(s, p, (), "user override") for s, p in zip(rows["source"], rows["population"]))


def _apply_row_overrides(pop: pd.Series, df: pd.DataFrame, overrides: pd.DataFrame) -> pd.Series:
    out = pop.copy()
    for key in ("sha1", "path"):  # path wins over sha1: applied last
        if key not in overrides.columns or key not in df.columns:
            continue
        given = overrides[overrides[key] != ""].drop_duplicates(key, keep="last").set_index(key)["population"]
        hit = df[key].isin(given.index)
        out[hit] = df.loc[hit, key].map(given)
    return out


def population_classes(df: pd.DataFrame, scheme: LabelScheme | None = None) -> pd.Series:
    """The scheme's class per row ('(label)' where the scheme excludes it), or the canonical label."""
    return _classes(df, scheme)


def _classes(df: pd.DataFrame, scheme: LabelScheme | None) -> pd.Series:
    """The scheme's class per row ('(label)' where the scheme excludes it), or the canonical label."""
    labels = _text(df, "label")
    return labels if scheme is None else labels.map(lambda lab: scheme.map(lab) or f"({lab})")


def _text(df: pd.DataFrame, name: str) -> pd.Series:
    if name not in df.columns:
        return pd.Series([""] * len(df), index=df.index, dtype=object)
    return df[name].fillna("").astype(str)
