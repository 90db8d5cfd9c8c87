"""The batch pipeline: CSV uploads in, answers with lineage out."""
