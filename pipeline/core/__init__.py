"""What every other package shares: params.yaml, the artifact paths, the class and column tables, ids, atomic writes, PNG grids,
the project's error type.
Imports nothing else of pipeline.
"""
