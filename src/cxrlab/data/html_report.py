"""A tiny builder for self-contained HTML reports: inline CSS, images as base64 data URIs, no
external CSS/JS/CDN, so one file can be mailed, archived or opened offline."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field

import pandas as pd

_CSS = """
:root { --fg:#1f2328; --muted:#59636e; --line:#d1d9e0; --bg:#ffffff; --soft:#f6f8fa; --accent:#0969da; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.5 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color:var(--fg); background:var(--soft); }
header { background:#24292f; color:#fff; padding:20px 32px; }
header h1 { margin:0; font-size:22px; }
header p { margin:4px 0 0; color:#c9d1d9; }
nav { padding:8px 32px; background:#fff; border-bottom:1px solid var(--line); position:sticky; top:0; z-index:1; }
nav a { color:var(--accent); text-decoration:none; margin-right:16px; font-size:13px; }
main { max-width:1160px; margin:0 auto; padding:16px 24px 48px; }
section { background:var(--bg); border:1px solid var(--line); border-radius:8px; padding:16px 20px; margin:16px 0; }
h2 { margin:0 0 8px; font-size:18px; }
h3 { margin:16px 0 6px; font-size:14px; }
p.note { color:var(--muted); margin:4px 0 10px; }
.cards { display:flex; flex-wrap:wrap; gap:12px; }
.card { background:var(--soft); border:1px solid var(--line); border-radius:6px; padding:8px 14px; min-width:120px; }
.card b { display:block; font-size:20px; }
.card span { color:var(--muted); font-size:12px; }
table { border-collapse:collapse; margin:6px 0 12px; font-size:13px; }
th, td { border-bottom:1px solid var(--line); padding:3px 10px; text-align:left; max-width:560px; overflow-wrap:anywhere; }
th.num, td.num { text-align:right; font-variant-numeric:tabular-nums; }
thead th { background:var(--soft); white-space:nowrap; overflow-wrap:normal; }
tr.total td { font-weight:bold; border-top:2px solid var(--line); }
img.fig { max-width:100%; height:auto; display:block; margin:6px 0; }
.grid { display:grid; grid-template-columns:repeat(var(--cols, 8), minmax(0, 1fr)); gap:6px; margin:4px 0 14px; max-width:1100px; }
@media (max-width: 700px) { .grid { grid-template-columns:repeat(4, minmax(0, 1fr)); } }
figure { margin:0; text-align:center; }
figure img { width:100%; aspect-ratio:1; object-fit:contain; background:#000; border-radius:4px; image-rendering:auto; }
figcaption { font-size:11px; color:var(--muted); overflow:hidden; text-overflow:ellipsis; white-space:nowrap; }
.warn { background:#fff8c5; border:1px solid #d4a72c; border-radius:6px; padding:8px 12px; }
"""


def data_uri(png: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(png).decode('ascii')}"


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def figure_img(png: bytes, alt: str) -> str:
    return f'<img class="fig" alt="{esc(alt)}" src="{data_uri(png)}">'


def table_html(df: pd.DataFrame, *, total_row: bool = False) -> str:
    """A DataFrame as an HTML table (index as first column); the last row styled as a total."""
    numeric = [pd.api.types.is_numeric_dtype(df[c]) for c in df.columns]
    head = f"<th>{esc(df.index.name or '')}</th>" + "".join(
        f'<th{_num(n)}>{esc(c)}</th>' for c, n in zip(df.columns, numeric))
    body = []
    for i, (idx, row) in enumerate(df.iterrows()):
        cls = ' class="total"' if total_row and i == len(df) - 1 else ""
        cells = "".join(f"<td{_num(n)}>{esc(fmt_value(v))}</td>" for v, n in zip(row.tolist(), numeric))
        body.append(f"<tr{cls}><td>{esc(idx)}</td>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _num(numeric: bool) -> str:
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


def cards_html(items: list[tuple[str, object]]) -> str:
    return '<div class="cards">' + "".join(
        f'<div class="card"><b>{esc(fmt_value(v))}</b><span>{esc(k)}</span></div>' for k, v in items
    ) + "</div>"


def thumb_grid(thumbs: list[tuple[bytes, str, str]], columns: int = 8) -> str:
    """``(png, caption, tooltip)`` thumbnails in a grid of ``columns`` (4 on narrow screens)."""
    cells = "".join(
        f'<figure title="{esc(tip)}"><img alt="{esc(cap)}" src="{data_uri(png)}"><figcaption>{esc(cap)}</figcaption></figure>'
        for png, cap, tip in thumbs
    )
    return f'<div class="grid" style="--cols:{max(1, columns)}">{cells}</div>'


@dataclass
class Report:
    """Sections of HTML accumulated in order, rendered into one page with a table of contents."""

    title: str
    subtitle: str = ""
    sections: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, anchor: str, heading: str, body: str) -> None:
        self.sections.append((anchor, heading, body))

    def render(self) -> str:
        nav = "".join(f'<a href="#{esc(a)}">{esc(h)}</a>' for a, h, _ in self.sections)
        body = "".join(f'<section id="{esc(a)}"><h2>{esc(h)}</h2>{b}</section>' for a, h, b in self.sections)
        return (
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{esc(self.title)}</title><style>{_CSS}</style></head><body>"
            f"<header><h1>{esc(self.title)}</h1><p>{esc(self.subtitle)}</p></header>"
            f"<nav>{nav}</nav><main>{body}</main></body></html>"
        )
