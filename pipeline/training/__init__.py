"""Training: the autoencoder and GAN loops, their schedules and checkpoints, the ridge fits, torchrun launch and DDP.
May import pipeline.core, pipeline.dataset and s2i_models.
"""
