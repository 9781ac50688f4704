"""What personal data the system keeps: the privacy page, a person's own data, erasure."""
