"""Deploying at a new site: does it look like the training data, adapt without labels, re-calibrate
with a few labels. Every entry point takes the site's films as a folder, glob patterns, a list of
files or a manifest DataFrame (``path`` column).

``inputs``       site films from folders/lists/DataFrames; a bundle opened once (verified) for the tools.
``compare``      the statistics: KS tests, total variation, domain-classifier AUC, outlier share.
``check``        ``check_site(bundle, films, CheckOptions())`` -> ``SiteCheck`` (verdict + JSON summary).
``plots``/``report``  the HTML page and JSON (``write_site_check(check, folder)``).
``adapt``        ``adapt_run(run, films, out, AdaptOptions())``: AdaBN -> a new checksummed bundle (torch).
``labelled``     label tables, and ``evaluate_on_labels(bundle, labels)`` for before/after tables.
``recalibrate``  ``recalibrate_bundle(bundle, labels, out, RecalibrateOptions())``: temperature + threshold
                 refitted on a small labelled sample, with bootstrap intervals.
Everything except ``adapt`` works without torch.
"""
