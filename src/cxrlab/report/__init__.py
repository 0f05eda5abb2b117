"""The one kit for self-contained HTML reports (EDA, audit, evaluation, shortcut, compare, LOSO, site check):
``html`` (escaping, page, sections, tables, cards, figures), ``style`` (the stylesheet), ``plots`` (matplotlib
figures as PNG bytes). Low layer: imports nothing of cxrlab above ``io``."""
