"""Batch upload jobs land with the batch upload issue."""
