"""Public chest X-ray datasets: a catalog, verified resumable downloads and safe extraction.

Data layer: imports only errors/config/labels/io. ``catalog`` describes the datasets,
``http_file`` fetches one file (HTTP Range resume, SHA-256), ``extract`` unpacks archives
refusing unsafe members, ``fetch`` ties them together into a folder ``cxrlab index`` reads.
"""
