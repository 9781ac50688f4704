"""The audit log screen: who changed what, when, before and after (organisers only)."""
