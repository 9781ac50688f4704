"""Shared building blocks: database, money, errors, i18n, audit log, security."""
