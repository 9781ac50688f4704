"""The door: tickets (QR, PDF), check-in and name badges."""
