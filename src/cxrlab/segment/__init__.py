"""Lung-field segmentation: masks from a zip/folder (e.g. the ones shipped in ``torchxrayvision``),
paired with indexed images, a compact U-Net trained on CPU, lung boxes for every manifest row and
lung-field cropping/masking as a preprocessing option. See ``docs/segment.md``."""
