"""Assemble BENCHMARKS.md from the summary below and the per-area results in benchmarks/results/.

    python benchmarks/build_benchmarks_md.py        # rewrites BENCHMARKS.md
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = [  # (file, title)
    ("data.md", "Data layer: index, audit, cache (issue 2)"),
    ("index.md", "Index throughput detail (issue 2)"),
    ("audit.md", "Leakage audit detail (issue 2)"),
    ("train.md", "Training throughput and accuracy (issue 3)"),
    ("train_full.md", "Training accuracy, longer run (issue 3)"),
    ("train_imbalance.md", "Class-imbalance handling: choosing the default (issue 3)"),
    ("evaluate_best.md", "The default recipe: internal test vs a held-out source (issues 3-4)"),
    ("evaluate.md", "Evaluation on real data, first runs (issue 4)"),
    ("deploy.md", "Deployment: ONNX Runtime, predict, serve (issue 5)"),
    ("demo.md", "Demo timing (issue 6)"),
    ("segment.md", "Lung segmentation (issue 7 groundwork)"),
    ("loso.md", "Leave-one-source-out: does the recipe learn disease or source? (issue 7)"),
    ("loso_adult.md", "Leave-one-source-out with adult disease and ImageNet transfer learning: the default recipe (issue 14)"),
    ("reader.md", "Image reader: pydicom's corpus, DICOM decoders, hostile files (issues 15, 18)"),
    ("site.md", "A new hospital: site check, adaptation without labels (AdaBN), few-label recalibration (issue 17)"),
]


def demote(text: str) -> str:
    """Push every Markdown heading one level down and drop the file's own title line."""
    lines = text.strip().splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    out, in_code = [], False
    for line in lines:
        if line.lstrip().startswith("```"):
            in_code = not in_code
        out.append(line if in_code else re.sub(r"^(#+) ", r"\1# ", line))
    return "\n".join(out).strip()


def main() -> None:
    summary = (ROOT / "benchmarks" / "SUMMARY.md").read_text(encoding="utf-8").strip()
    parts = [summary]
    for name, title in SECTIONS:
        path = ROOT / "benchmarks" / "results" / name
        if path.exists():
            parts.append(f"## {title}\n\n_Source: `benchmarks/results/{name}`._\n\n{demote(path.read_text(encoding='utf-8'))}")
    (ROOT / "BENCHMARKS.md").write_text("\n\n".join(parts) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
