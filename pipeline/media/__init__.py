"""Media and features: ffmpeg probing and decoding of clips, log-Mel spectrograms.
May import pipeline.core only.
"""
