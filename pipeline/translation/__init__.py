"""Translating sound files and live audio into pictures: windows, samples, contact sheets, the listen server.
May import pipeline.core, pipeline.media, pipeline.dataset and s2i_models.
"""
