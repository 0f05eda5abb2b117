"""Audit: exact and near duplicates across the manifest, label conflicts, and the audit report
(``run.run_audit``, ``report.write_audit``)."""
