"""The DVC stages, one module per stage of dvc.yaml, each a thin `main`: read params, call libraries, write outputs.
May import every library package and s2i_models; nothing imports a stage.
"""
