"""Evaluation and metrics: informativity classifiers and their label sets, judging snapshots, controls, realism, report.
May import pipeline.core, pipeline.dataset, pipeline.demo_world, pipeline.training and s2i_models.
"""
