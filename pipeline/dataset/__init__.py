"""The dataset on disk: segment index and splits, WebDataset shards written and read, embeddings.
May import pipeline.core, pipeline.media and s2i_models.
"""
