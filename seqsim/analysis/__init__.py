"""Presentation of results: comparisons of runs (tables people read).
Imports every layer below it; nothing below imports it."""
