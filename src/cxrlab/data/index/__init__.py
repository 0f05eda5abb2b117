"""Indexing: walk dataset folders (``layouts``), decode and fingerprint each film, write the manifest
(``indexer.index_datasets``)."""
