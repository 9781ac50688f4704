"""Staff users, roles and login."""
