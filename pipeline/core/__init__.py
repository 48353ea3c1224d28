"""What every other package shares: params.yaml, the class and column tables, ids, atomic writes, PNG grids.
Imports nothing else of pipeline.
"""
