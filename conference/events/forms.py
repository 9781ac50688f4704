"""Forms of the events area (organiser forms arrive with the back office)."""
