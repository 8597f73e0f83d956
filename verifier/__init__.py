"""hedui's service: the API and commands, the pipeline, the assessment, the report and the storage.

Read docs/architecture.md for the rooms and where to change what.
"""
