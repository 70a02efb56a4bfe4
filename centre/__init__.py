"""The monitoring centre behind the bridge: crime mapping (crimes_*.py)."""
