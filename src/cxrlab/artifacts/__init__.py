"""The files a run leaves behind, as typed records: the low layer every stage reads them through.

Modules: ``run_folder`` (:class:`RunFolder`, every path of ``runs/<name>/``), ``checkpoint_meta``
(:class:`CheckpointMeta`, what ``checkpoint.json`` holds), ``checkpoint`` (save / resolve / read a
checkpoint folder), ``calibration`` (:class:`CalibrationRecord`, ``evaluation/calibration.json``),
``evaluation`` (:class:`EvaluationSummary`, the headline of an evaluation's ``metrics.json``),
``bundle_card`` (:class:`BundleCard`, what a bundle's ``card.json`` holds),
``provenance`` (software versions, git commit). Imports only ``cxrlab.errors/config/labels/io``,
torch and safetensors; rebuilding a model from a checkpoint is ``cxrlab.models.loading``.
"""
