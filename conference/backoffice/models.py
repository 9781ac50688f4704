"""The back office has no tables of its own: it reads and changes other areas' data
through their services."""
