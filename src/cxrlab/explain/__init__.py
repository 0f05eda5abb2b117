"""Heatmaps that show where a model looked.

``targets``  picks the Grad-CAM layer of any registry model and tells whether its head is CAM-able.
``gradcam``  Grad-CAM with pytorch-grad-cam (needs torch): arrays, overlays, PNG files.
``overlay``  numpy-only colouring/blending, shared with the torch-free predictor and service.
"""
