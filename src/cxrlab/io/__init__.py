"""cxrlab.io"""
