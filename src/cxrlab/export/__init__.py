"""Deployable model bundles (``model.cxrlab``).

``bundle_file``  read/verify and write the zip (no torch: loading needs only ONNX Runtime + numpy).
``card``         the model card (a ``BundleCard``, ``card.json``) built from a checkpoint and its run folder.
``onnx_graph``   torch -> ONNX (dynamic batch, logits + class activation maps) and the parity check.
``bundle``       ``export_bundle(run, out)``: export, verify, write.
"""
