"""Classification metrics as pure functions of ``(probs, targets)`` — the one definition of each
number, shared by training validation (``validation_metrics``), evaluation and the model card.

Modules: ``classification`` (tables, summaries, AUCs), ``curves`` (ROC and precision-recall curves).
Depends on numpy, scipy and scikit-learn only.
"""
