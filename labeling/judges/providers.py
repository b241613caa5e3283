"""Named judge providers: the endpoints an operator allows, defined once in settings.

A project's judge config names a provider (`params.provider`), never a URL or the name of an
environment variable: otherwise anyone who may edit a project could send the worker's secrets
(`api_key_env: DJANGO_SECRET_KEY`) to a host of their choice, or reach internal addresses
from the worker. The provider's identity (its name and normalized base URL) goes into the
judge's config hash, every call's cache key and each verdict's provenance, so two servers
that serve a model of the same name never share answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from labeling.typed_config import ConfigError, typed_record

DEFAULT_BASE_URL = "https://api.openai.com/v1"


def normalize_base_url(url: str) -> str:
    """`url` with a lower-case scheme and host, no default port, no trailing slash, no query:
    the same endpoint always reads the same. Raises ConfigError for a URL that is not
    http(s) with a host."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ConfigError("base_url", f"{url!r} is not an http(s) URL with a host", url)
    scheme = parts.scheme.lower()
    host = parts.hostname.lower()
    if ":" in host:  # IPv6
        host = f"[{host}]"
    port = parts.port
    netloc = host if port is None or (scheme, port) in (("http", 80), ("https", 443)) else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path.rstrip("/"), "", ""))


@dataclass(frozen=True)
class Provider:
    """An OpenAI-compatible endpoint an operator allows judges to use.

    `models` lists the models projects may ask for (empty: any model the server lists);
    `prices` is per model, dollars per million input / output tokens. `max_concurrency` and
    `requests_per_minute` are what the server allows in all: every worker's calls count against
    them together (through Redis); a worker that dies frees its slots after `lease_s`."""

    name: str
    base_url: str
    api_key_env: str = "OPENAI_API_KEY"
    models: tuple[str, ...] = ()
    prices: dict = field(default_factory=dict)
    max_concurrency: int | None = None
    requests_per_minute: float | None = None
    lease_s: float = 30.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_url", normalize_base_url(self.base_url))
        for key in ("max_concurrency", "requests_per_minute", "lease_s"):
            value = getattr(self, key)
            if value is not None and not value > 0:
                raise ConfigError(key, f"must be a positive number (or left out for no limit), got {value!r}",
                                  value)  # fmt: skip

    @property
    def shares_limits(self) -> bool:
        """Whether the provider's calls take slots shared by every worker."""
        return bool(self.max_concurrency or self.requests_per_minute)

    @property
    def identity(self) -> str:
        """`name@base_url`: what provenance and cache keys record."""
        return f"{self.name}@{self.base_url}"

    def check_model(self, model: str, where: str) -> None:
        if self.models and model not in self.models:
            raise ConfigError(
                f"{where}.model", f"provider {self.name!r} does not allow model {model!r}", model, self.models
            )


def parse_providers(raw: Any, where: str = "TANDEM_JUDGE_PROVIDERS") -> dict[str, Provider]:
    """Providers from their JSON object form `{name: {base_url, api_key_env, models, prices,
    max_concurrency, requests_per_minute, lease_s}}`. Raises ConfigError naming the key."""
    if not isinstance(raw, dict):
        raise ConfigError(where, f"expected an object of providers by name, got {raw!r}", raw)
    providers = {}
    for name, spec in raw.items():
        if not isinstance(spec, dict) or "base_url" not in spec:
            raise ConfigError(f"{where}.{name}", "needs at least a base_url", spec)
        providers[name] = typed_record(Provider, spec, f"{where}.{name}", name=name)
    return providers
