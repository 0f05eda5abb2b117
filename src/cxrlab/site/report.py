"""The site check as one self-contained HTML page (verdict first, pictures before numbers) and JSON."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from cxrlab.evaluate.gallery import thumbnail_png
from cxrlab.report.html import callout, data_uri, esc, figure, num, page, section, table
from cxrlab.io.atomic import write_text
from cxrlab.site.check import SiteCheck

KIND = {"unlike": "bad", "different": "warn", "like": "good", "unknown": "warn"}
TITLE = {"unlike": "Unlike the reference", "different": "Differs in places", "like": "Looks alike",
         "unknown": "Cannot compare"}


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and obj != obj:
        return None
    return obj


def _card(label: str, value: str, note: str) -> str:
    return (f'<div class="card"><div class="label">{esc(label)}</div><div class="value">{esc(value)}</div>'
            f'<div class="ci">{esc(note)}</div></div>')


def _verdict_section(check: SiteCheck) -> str:
    s = check.summary
    v = s["verdict"]
    reasons = "".join(f"<li>{esc(r)}</li>" for r in v["reasons"]) or "<li>no measure shows a difference</li>"
    cards = [_card("site films", f"{s['site']['readable']:,}",
                   f"of {s['site']['found']:,} found; {s['site']['unreadable']} unreadable")]
    feats = s["features"]
    if feats.get("available"):
        dom, out = feats["domain"], feats["outliers"]
        cards.append(_card("feature shift (AUC)", num(dom["auc"], 2), "0.5 = indistinguishable, 1 = fully apart"))
        cards.append(_card("outliers", f"{out['share']:.0%}",
                           f"{out['outliers']} films; {out['expected_share']:.0%} expected"))
    dom_class = s["predictions"]["dominant"]
    cards.append(_card("most predicted", f"{dom_class['share']:.0%}", f"of films called {dom_class['class']}"))
    body = (callout(KIND[v["level"]], TITLE[v["level"]], v["text"]) + f'<div class="cards">{"".join(cards)}</div>'
            f"<h3>Why</h3><ul>{reasons}</ul>")
    if s["predictions"]["single_class"]:
        body += callout("warn", "The model calls almost every film one class",
                        f"{dom_class['share']:.0%} of the site's films are predicted {dom_class['class']}. If the site's "
                        "films really are that uniform, adapting to them (cxrlab adapt) would make things worse: "
                        "adaptation needs a representative mix of the site's films.")
    return section("verdict", "Verdict", body)


def _images_section(check: SiteCheck) -> str:
    from cxrlab.site.plots import image_figure

    rows = [(d["what"], d["reference"], d["site"], f"{d['measure']} {num(d['size'], 2)}", d["severity"])
            for d in check.summary["images"]]
    body = figure(image_figure(check.profile, check.films), "film statistics",
                  "Grey: reference films; blue: this site. The last two panels are what the model sees after "
                  "preprocessing; a difference there reaches the model.")
    body += table(["", "reference", "site", "distance", "difference"], rows)
    return section("films", "What the films look like", body,
                   "Raw-file statistics of the site against the reference "
                   "(KS distance: 0 = same distribution, 1 = no overlap).")


def _features_section(check: SiteCheck) -> str:
    from cxrlab.site.plots import feature_figure

    feats = check.summary["features"]
    dom, out = feats["domain"], feats["outliers"]
    prof = check.profile
    body = figure(feature_figure(prof.coordinates, check.coordinates, prof.outlier_scores, check.scores,
                                 prof.outlier_threshold), "feature map",
                  "Each dot is a film, placed by the model's penultimate features (the two main directions of the "
                  "reference). Crosses: site films beyond the reference's 99th-percentile outlier score.")
    p = "–" if dom["p_value"] is None else f"{dom['p_value']:.3f}"
    body += table(["", "value", "reading"], [
        ("domain classifier AUC", num(dom["auc"], 3),
         f"telling site from reference by features; chance is ~{num(dom.get('null_auc_95'), 2)} at most (95% of "
         f"{dom['permutations']} label shuffles), p = {p}"),
        ("outlier films", f"{out['outliers']} of {out['films']} ({out['share']:.1%})",
         f"expected {out['expected_share']:.1%} for films like the reference, p = {num(out['p_value'], 4)}"),
    ])
    return section("features", "What the model sees", body,
                   "The model's own description of the films: if a classifier can tell the site's films from the "
                   "reference by these features, the model is in territory it was not validated on.")


def _predictions_section(check: SiteCheck) -> str:
    from cxrlab.site.plots import mix_figure

    pred = check.summary["predictions"]
    body = figure(mix_figure(list(check.classes), pred["reference_mix"], pred["site_mix"]), "predicted mix",
                  "Share of films whose most probable class is each class. A different mix can be a different "
                  "patient population, or the shift itself.")
    rows = [(c, f"{pred['reference_mix'][c]:.0%}" if pred["reference_mix"] else "–", f"{pred['site_mix'][c]:.0%}")
            for c in check.classes]
    body += table(["class", "reference", "site"], rows)
    return section("predictions", "What the model predicts", body)


def _gallery(check: SiteCheck, order: np.ndarray, limit: int = 8) -> str:
    cells = []
    for i in order[:limit]:
        name = os.path.basename(check.films.paths[i])
        label = check.classes[int(check.probs[i].argmax())]
        score = f" · score {check.scores[i]:.0f}" if check.scores is not None else ""
        cells.append(f'<figure><img src="{data_uri(thumbnail_png(check.films.views[i]))}" alt="{esc(name)}">'
                     f'<div class="small" title="{esc(check.films.paths[i])}">{esc(name[:28])}<br>'
                     f'{esc(label)} {check.probs[i].max():.0%}{esc(score)}</div></figure>')
    return f'<div class="gallery">{"".join(cells)}</div>'


def _films_section(check: SiteCheck) -> str:
    if check.scores is not None:
        order = np.argsort(-check.scores, kind="stable")
        body = "<h3>Most unusual to the model</h3>" + _gallery(check, order)
        body += "<h3>Most typical</h3>" + _gallery(check, order[::-1])
    else:
        body = _gallery(check, np.arange(len(check.films)))
    return section("gallery", "Films to look at", body, "As the model sees them (after preprocessing).")


def _about_section(check: SiteCheck) -> str:
    s = check.summary
    ref = s["reference"] or {}
    rows = [("bundle", s["bundle"]["path"]), ("site", s["site"]["origin"]),
            ("reference", f"{ref.get('films', '–')} films: {ref.get('what', ref.get('kind', '–'))}"),
            ("seed / permutations", f"{s['options']['seed']} / {s['options']['permutations']}"),
            ("checked", s["created"])]
    body = table([], rows)
    if s["cannot_compare"]:
        body += "<h3>Not compared</h3><ul>" + "".join(f"<li>{esc(c)}</li>" for c in s["cannot_compare"]) + "</ul>"
    if s["site"]["unreadable"]:
        body += "<h3>Unreadable files</h3>" + table(["file", "reason"], list(s["site"]["unreadable_examples"].items()))
    return section("about", "About this check", body)


def render_html(check: SiteCheck) -> str:
    parts = [("verdict", "Verdict", _verdict_section(check))]
    if check.profile is not None:
        parts.append(("films", "Films", _images_section(check)))
    if check.scores is not None and check.profile is not None and check.profile.coordinates is not None:
        parts.append(("features", "Features", _features_section(check)))
    parts += [("predictions", "Predictions", _predictions_section(check)),
              ("gallery", "Gallery", _films_section(check)), ("about", "About", _about_section(check))]
    s = check.summary
    return page(f"Site check: {s['site']['origin']}",
                f"{s['site']['readable']} films against {s['bundle']['name']} · research use only", parts)


def write_site_check(check: SiteCheck, out: str | Path) -> dict[str, Path]:
    """``site_check.json`` and ``site_check.html`` in the folder ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "site_check.json", "html": out / "site_check.html"}
    write_text(paths["json"], json.dumps(_jsonable(check.summary), indent=2, allow_nan=False) + "\n")
    write_text(paths["html"], render_html(check))
    return paths
