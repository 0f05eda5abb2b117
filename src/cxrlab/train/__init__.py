"""cxrlab.train"""
