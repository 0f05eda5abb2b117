"""cxrlab.evaluate"""
