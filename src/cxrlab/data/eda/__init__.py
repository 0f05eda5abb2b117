"""Exploratory data analysis: the HTML report of a manifest (``report.make_eda_report``)."""
