"""cxrlab.predict"""
