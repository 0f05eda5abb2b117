"""Building blocks for self-contained HTML reports: one file, inline CSS, images as base64 data
URIs, no scripts, no fonts or styles from the network. Every piece of text is escaped."""

from __future__ import annotations

import base64
import html
import math
import re
from collections.abc import Iterable, Sequence

CSS = """
:root{--ink:#1f2937;--muted:#6b7280;--line:#e5e7eb;--bg:#f8fafc;--accent:#2563eb;--warn:#b45309;--bad:#b91c1c;--good:#15803d}
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:var(--ink);background:var(--bg)}
header{background:#0f172a;color:#f8fafc;padding:22px 32px}
header h1{margin:0 0 4px;font-size:24px}
header .sub{color:#cbd5e1;font-size:14px}
nav{position:sticky;top:0;z-index:2;background:#fff;border-bottom:1px solid var(--line);padding:8px 32px;display:flex;flex-wrap:wrap;gap:4px 18px;font-size:14px}
nav a{color:var(--accent);text-decoration:none}
main{max-width:1180px;margin:0 auto;padding:18px 32px 60px}
section{background:#fff;border:1px solid var(--line);border-radius:10px;padding:18px 24px;margin:18px 0}
h2{margin:0 0 10px;font-size:19px}
h3{margin:18px 0 6px;font-size:15px}
p.lead{margin:4px 0 12px;color:var(--muted)}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(180px,1fr));gap:12px;margin:10px 0}
.card{border:1px solid var(--line);border-radius:8px;padding:10px 14px;background:var(--bg)}
.card .label{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted)}
.card .value{font-size:26px;font-weight:650}
.card .ci{font-size:12.5px;color:var(--muted)}
table{border-collapse:collapse;width:100%;margin:8px 0 4px;font-size:13.5px}
th,td{padding:6px 9px;border-bottom:1px solid var(--line);text-align:left;white-space:nowrap}
td.w{white-space:normal}
th.n,td.n{text-align:right;white-space:nowrap}
th{background:var(--bg);font-weight:600}
td.ci{color:var(--muted);font-size:12px}
.callout{border-left:4px solid var(--accent);background:#eff6ff;padding:10px 14px;margin:10px 0;border-radius:0 8px 8px 0}
.callout.warn{border-color:var(--warn);background:#fffbeb}
.callout.bad{border-color:var(--bad);background:#fef2f2}
.callout.good{border-color:var(--good);background:#f0fdf4}
.callout b{display:block;margin-bottom:2px}
figure{margin:10px 0}
figure img{max-width:100%;height:auto;display:block;margin:0 auto}
figcaption{color:var(--muted);font-size:13px;margin-top:4px}
.gallery{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:12px}
.gallery figure{margin:0;background:var(--bg);border:1px solid var(--line);border-radius:8px;padding:6px;font-size:12px}
.gallery img{width:100%;border-radius:4px;image-rendering:auto}
.gallery .true{color:var(--good)} .gallery .pred{color:var(--bad)}
.small{font-size:12.5px;color:var(--muted)}
code{background:#f1f5f9;padding:1px 5px;border-radius:4px;font-size:13px}
"""


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
