"""cxrlab.serve"""
