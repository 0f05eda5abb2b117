"""Evaluation: metrics with patient-level bootstrap intervals, calibration, operating points,
external validation, the shortcut check, reports and run comparison (see docs/evaluate.md).

Modules: ``bootstrap``, ``calibration``, ``thresholds`` (the metrics themselves: ``cxrlab.metrics``),
``selection`` (which rows), ``inference`` (images -> logits/features), ``analysis``,
``shortcut`` + ``probe``, ``pipeline`` (``evaluate_run``), ``shortcut_run`` (``shortcut_check``),
``compare`` (``compare_runs``), and the report pieces ``plots``, ``gallery``, ``report``,
``report_shortcut`` (built with the shared kit :mod:`cxrlab.report`).
"""
