"""cxrlab.export"""
