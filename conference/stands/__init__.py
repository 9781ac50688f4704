"""The exhibition: stands on a floor plan, stand bookings and exhibitor passes."""
