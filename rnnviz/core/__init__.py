"""The engine (torch only): quantity names, the recurrence, capture, edits, the Trace, exactness."""
