"""cxrlab.data: from dataset folders to cached model input, one sub-package per stage (see DEVELOPERS.md)."""
