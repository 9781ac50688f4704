"""Settings classes. Pick one with CONFERENCE_ENV (development, testing, production)."""

from config.settings import (
    Config,
    ConfigurationError,
    DevelopmentConfig,
    ProductionConfig,
    TestingConfig,
    config_for,
)

__all__ = [
    "Config",
    "ConfigurationError",
    "DevelopmentConfig",
    "ProductionConfig",
    "TestingConfig",
    "config_for",
]
