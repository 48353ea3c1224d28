"""The `s2i` commands (translate, listen, audit, label, manifest) and their dispatcher `cli`.
May import library packages and s2i_models, never a stage.
"""
