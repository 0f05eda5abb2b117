"""The stylesheet of every cxrlab HTML report (inline in the page: no network, no scripts)."""

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
p.note{color:var(--muted);margin:4px 0 10px}
p.warn{background:#fffbeb;border-left:4px solid var(--warn);border-radius:0 8px 8px 0;padding:8px 12px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(180px,1fr));gap:12px;margin:10px 0}
.card{border:1px solid var(--line);border-radius:8px;padding:10px 14px;background:var(--bg)}
.card .label{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted)}
.card .value{font-size:26px;font-weight:650}
.card .ci{font-size:12.5px;color:var(--muted)}
.card b{display:block;font-size:22px}
.card span{color:var(--muted);font-size:12px}
table{border-collapse:collapse;width:100%;margin:8px 0 4px;font-size:13.5px}
th,td{padding:6px 9px;border-bottom:1px solid var(--line);text-align:left;white-space:nowrap}
td.w{white-space:normal}
th.n,td.n,th.num,td.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
th{background:var(--bg);font-weight:600}
td.ci{color:var(--muted);font-size:12px}
table.frame{width:auto}
table.frame td{white-space:normal;max-width:560px;overflow-wrap:anywhere}
tr.total td{font-weight:bold;border-top:2px solid var(--line)}
.callout{border-left:4px solid var(--accent);background:#eff6ff;padding:10px 14px;margin:10px 0;border-radius:0 8px 8px 0}
.callout.warn{border-color:var(--warn);background:#fffbeb}
.callout.bad{border-color:var(--bad);background:#fef2f2}
.callout.good{border-color:var(--good);background:#f0fdf4}
.callout b{display:block;margin-bottom:2px}
figure{margin:10px 0}
figure img{max-width:100%;height:auto;display:block;margin:0 auto}
figcaption{color:var(--muted);font-size:13px;margin-top:4px}
img.fig{max-width:100%;height:auto;display:block;margin:6px 0}
.grid{display:grid;grid-template-columns:repeat(var(--cols, 8), minmax(0, 1fr));gap:6px;margin:4px 0 14px;max-width:1100px}
@media (max-width: 700px){.grid{grid-template-columns:repeat(4, minmax(0, 1fr))}}
.grid figure{margin:0;text-align:center}
.grid figure img{width:100%;aspect-ratio:1;object-fit:contain;background:#000;border-radius:4px}
.grid figcaption{font-size:11px;margin:0;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.gallery{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:12px}
.gallery figure{margin:0;background:var(--bg);border:1px solid var(--line);border-radius:8px;padding:6px;font-size:12px}
.gallery img{width:100%;border-radius:4px;image-rendering:auto}
.gallery .true{color:var(--good)} .gallery .pred{color:var(--bad)}
.small{font-size:12.5px;color:var(--muted)}
code{background:#f1f5f9;padding:1px 5px;border-radius:4px;font-size:13px}
"""
