"""Django system checks for Tandem's own settings: bad configuration fails at start, naming
the setting, instead of in the first job that reads it."""

from __future__ import annotations

import os

from django.core import checks

from labeling.typed_config import ConfigError


@checks.register(checks.Tags.compatibility)
def check_judge_providers(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """tandem.E001: TANDEM_JUDGE_PROVIDERS parses; tandem.W002: each provider's key variable
    is set in this process's environment (a worker without it cannot judge)."""
    from .configs import judge_providers

    try:
        providers = judge_providers()
    except ConfigError as error:
        return [
            checks.Error(
                str(error),
                hint='JSON: {"name": {"base_url": "https://host/v1", "api_key_env": "VARIABLE"}}',
                id="tandem.E001",
            )
        ]
    return [
        checks.Warning(
            f"judge provider {name!r}: {p.api_key_env} is not set in this environment",
            hint="set it where the workers run, or remove the provider",
            id="tandem.W002",
        )
        for name, p in providers.items()
        if name != "openai" and not os.environ.get(p.api_key_env)
    ]
