"""cxrlab.explain"""
