"""Reviewing runs recorded in ML Metadata: the HTML report of one run, the run history and model lineage."""
