"""Building blocks for self-contained HTML reports: one file, inline CSS (:mod:`cxrlab.report.style`),
images as base64 data URIs, no scripts, no fonts or styles from the network. Every piece of text is
escaped. Tables from rows (:func:`table`) or from a DataFrame (:func:`frame_table`)."""

from __future__ import annotations

import base64
import html
import math
import re
from collections.abc import Iterable, Sequence

import pandas as pd

from cxrlab.report.style import CSS

def esc(text) -> str:
    return html.escape(str(text), quote=True)


def num(value, digits: int = 3) -> str:
    """A number for a table cell; ``–`` for missing/undefined."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, (int,)) and not isinstance(value, bool):
        return f"{value:,}"
    return f"{value:.{digits}f}"


#: Marks an interval computed with the Wilson score method rather than the bootstrap.
WILSON_MARK = "†"
WILSON_NOTE = (f"{WILSON_MARK} Wilson score 95% interval from the counts, used for a proportion where the "
               "bootstrap collapses (e.g. 18 of 18 right gives 1.000–1.000) or fewer than 30 images count.")


def ci_text(cell: dict | None, digits: int = 3) -> str:
    """``0.912 (0.894–0.930)`` from ``{value, low, high}``; ``†`` after a Wilson interval."""
    if not cell:
        return "–"
    value = num(cell.get("value"), digits)
    lo, hi = cell.get("low", math.nan), cell.get("high", math.nan)
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return value
    sep = " to " if lo < 0 else "–"  # "-0.056–-0.031" reads badly
    mark = f" {WILSON_MARK}" if cell.get("method") == "wilson" else ""
    return f"{value} ({num(lo, digits)}{sep}{num(hi, digits)}){mark}"


def data_uri(png: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(png).decode('ascii')}"


def figure(png: bytes | None, alt: str, caption: str = "") -> str:
    if not png:
        return ""
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="{data_uri(png)}" alt="{esc(alt)}">{cap}</figure>'


_NUMERIC = re.compile(r"^[-–+]?[\d.,]+(%|\s\(.*\))?$|^–$")


def _td(value, raw: bool) -> str:
    text = str(value)
    align = ' class="n"' if _NUMERIC.match(text.strip()) else ' class="w"' if len(text) > 40 else ""
    return f"<td{align}>{text if raw else esc(text)}</td>"


def table(headers: Sequence[str], rows: Iterable[Sequence], raw: bool = False) -> str:
    """An HTML table (numbers right-aligned, text left); cells are escaped unless ``raw`` (then
    they must already be safe HTML). An empty ``headers`` gives a header-less key/value table."""
    rows = list(rows)
    numeric_cols = {j for row in rows for j, v in enumerate(row) if _NUMERIC.match(str(v).strip())}
    head = "".join(f"<th{' class=n' if j in numeric_cols and j else ''}>{esc(h)}</th>" for j, h in enumerate(headers))
    thead = f"<thead><tr>{head}</tr></thead>" if any(headers) else ""
    body = "".join("<tr>" + "".join(_td(v, raw) for v in row) + "</tr>" for row in rows)
    return f"<table>{thead}<tbody>{body}</tbody></table>"


def frame_table(df: pd.DataFrame, *, total_row: bool = False) -> str:
    """A DataFrame as an HTML table (index as first column); the last row styled as a total."""
    numeric = [pd.api.types.is_numeric_dtype(df[c]) for c in df.columns]
    head = f"<th>{esc(df.index.name or '')}</th>" + "".join(
        f'<th{_num_class(n)}>{esc(c)}</th>' for c, n in zip(df.columns, numeric))
    body = []
    for i, (idx, row) in enumerate(df.iterrows()):
        cls = ' class="total"' if total_row and i == len(df) - 1 else ""
        cells = "".join(f"<td{_num_class(n)}>{esc(fmt_value(v))}</td>" for v, n in zip(row.tolist(), numeric))
        body.append(f"<tr{cls}><td>{esc(idx)}</td>{cells}</tr>")
    return f'<table class="frame"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _num_class(numeric: bool) -> str:
    return ' class="num"' if numeric else ""


def fmt_value(value: object) -> str:
    """Numbers with thousands separators and at most 3 decimals (trailing zeros dropped)."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value:  # NaN
            return ""
        text = f"{value:,.3f}" if abs(value) < 1000 else f"{value:,.0f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    return str(value)


def figure_img(png: bytes, alt: str) -> str:
    """A figure as a bare full-width image (no caption)."""
    return f'<img class="fig" alt="{esc(alt)}" src="{data_uri(png)}">'


def thumb_grid(thumbs: list[tuple[bytes, str, str]], columns: int = 8) -> str:
    """``(png, caption, tooltip)`` thumbnails in a grid of ``columns`` (4 on narrow screens)."""
    cells = "".join(
        f'<figure title="{esc(tip)}"><img alt="{esc(cap)}" src="{data_uri(png)}"><figcaption>{esc(cap)}</figcaption></figure>'
        for png, cap, tip in thumbs
    )
    return f'<div class="grid" style="--cols:{max(1, columns)}">{cells}</div>'


def value_cards(items: list[tuple[str, object]]) -> str:
    """Big numbers with a label under each (counts of the EDA/audit overview)."""
    return '<div class="cards">' + "".join(
        f'<div class="card"><b>{esc(fmt_value(v))}</b><span>{esc(k)}</span></div>' for k, v in items
    ) + "</div>"


def callout(kind: str, title: str, text: str) -> str:
    """A coloured box: ``kind`` is ``info``, ``good``, ``warn`` or ``bad``."""
    return f'<div class="callout {esc(kind)}"><b>{esc(title)}</b>{esc(text)}</div>'


def card(label: str, cell: dict | None, digits: int = 3) -> str:
    value = num(cell.get("value") if cell else None, digits)
    lo, hi = (cell or {}).get("low", math.nan), (cell or {}).get("high", math.nan)
    ci = f"95% CI {num(lo, digits)}–{num(hi, digits)}" if math.isfinite(lo) and math.isfinite(hi) else "no interval"
    return f'<div class="card"><div class="label">{esc(label)}</div><div class="value">{value}</div><div class="ci">{ci}</div></div>'


def section(anchor: str, title: str, body: str, lead: str = "") -> str:
    intro = f'<p class="lead">{esc(lead)}</p>' if lead else ""
    return f'<section id="{esc(anchor)}"><h2>{esc(title)}</h2>{intro}{body}</section>'


def page(title: str, subtitle: str, sections: Sequence[tuple[str, str, str]]) -> str:
    """The whole document. ``sections``: ``(anchor, nav label, section html)``."""
    nav = "".join(f'<a href="#{esc(a)}">{esc(label)}</a>' for a, label, _ in sections)
    body = "".join(s for _, _, s in sections)
    return (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{esc(title)}</h1><div class=\"sub\">{esc(subtitle)}</div></header>"
        f"<nav>{nav}</nav><main>{body}</main></body></html>"
    )
