"""The leakage audit of the splits: fingerprints of frames and sounds, the checks, the HTML report.
May import pipeline.core and pipeline.dataset.
"""
