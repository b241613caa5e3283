"""A project's `judge_config` and `routing_config`: checked where they are written (API, admin,
CLI) and where they are read (a config stored before these checks existed), and judge configs
bound to the operator's named providers.

`check_*` raise labeling's ConfigError: its `key` is the dotted path of the wrong value and its
message says the value and the valid options.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from typing import Any

from django.conf import settings

from labeling.argilla_review import ReviewConfig
from labeling.guarantee import GUARANTEE_KEYS, GuaranteeConfig
from labeling.judges import JudgeConfig
from labeling.judges.builtin import BUILTIN
from labeling.judges.params import ENDPOINT_PARAMS, PARAMS, params_record
from labeling.judges.providers import DEFAULT_BASE_URL, Provider, parse_providers
from labeling.prompts import template_names
from labeling.routing import RoutingPolicy
from labeling.typed_config import ConfigError, typed_record

JUDGE_FIELDS = ("backend", "model", "template", "rubric", "params", "members")
JUDGE_CONFIG_KEYS = ("judges", "harmlessness_rubric")
ROUTING_CONFIG_KEYS = ("policy", "judges", "review", *GUARANTEE_KEYS)
# A judge's name is a name, never a path: nothing that comes from the API or the pages is read
# from the worker's disk (only the CLI's --judge reads a .json file).
JUDGE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}")


# -- providers ---------------------------------------------------------------------------


def judge_providers() -> dict[str, Provider]:
    """The operator's providers (setting TANDEM_JUDGE_PROVIDERS, JSON), plus `openai` from
    OPENAI_BASE_URL / OPENAI_API_KEY where the setting does not define it. Read at each call:
    the environment is the operator's, and settings are never read at import time."""
    raw = settings.TANDEM_JUDGE_PROVIDERS
    try:
        providers = parse_providers(json.loads(raw) if isinstance(raw, str) and raw else raw or {})
    except json.JSONDecodeError as error:
        raise ConfigError("TANDEM_JUDGE_PROVIDERS", f"not valid JSON ({error.msg})", raw) from error
    if "openai" not in providers:
        url = os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        providers["openai"] = Provider(name="openai", base_url=url, api_key_env="OPENAI_API_KEY")
    return providers


def bind_provider(config: JudgeConfig, where: str) -> JudgeConfig:
    """`config` with its endpoint filled in from its named provider (`params.provider`,
    default `openai`), recursively through ensemble members. Raises ConfigError for an
    unknown provider or a model the provider does not allow."""
    members = tuple(bind_provider(m, f"{where}.members") for m in config.members)
    if config.backend != "openai":
        return dataclasses.replace(config, members=members)
    providers = judge_providers()
    name = str(config.params.get("provider") or "openai")
    if name not in providers:
        raise ConfigError(f"{where}.params.provider", f"no provider named {name!r}", name, tuple(providers))
    provider = providers[name]
    provider.check_model(config.model, where)
    params = {
        **config.params,
        "provider": name,
        "base_url": provider.base_url,
        "api_key_env": provider.api_key_env,
        "prices": provider.prices or config.params.get("prices", {}),
    }
    return dataclasses.replace(config, params=params, members=members)


# -- judge_config ------------------------------------------------------------------------


def _check_name(name: Any, where: str) -> None:
    if not isinstance(name, str) or not JUDGE_NAME.fullmatch(name):
        raise ConfigError(
            where, f"{name!r} is not a judge name: letters, digits, '_', '.', ':' or '-', at most 100"
        )


def check_judge(spec: Any, where: str, *, trusted: bool = False) -> None:
    """One judge spec: known fields, a known backend and template, typed params; endpoint
    params only where `trusted` (the CLI's own files)."""
    if not isinstance(spec, dict):
        raise ConfigError(where, f"expected an object with {', '.join(JUDGE_FIELDS)}, got {spec!r}", spec)
    typed_record(_JudgeSpec, spec, where)
    if spec["backend"] not in tuple(PARAMS):
        raise ConfigError(f"{where}.backend", f"unknown backend {spec['backend']!r}", spec["backend"],
                          tuple(PARAMS))  # fmt: skip
    if "template" in spec and spec["template"] not in template_names():
        raise ConfigError(f"{where}.template", f"no template named {spec['template']!r}", spec["template"],
                          tuple(template_names()))  # fmt: skip
    params = spec.get("params", {})
    if not trusted and (endpoint := sorted(ENDPOINT_PARAMS & set(params))):
        raise ConfigError(
            f"{where}.params.{endpoint[0]}",
            "endpoints are the operator's: name a provider in params.provider instead",
            params[endpoint[0]],
            tuple(judge_providers()),
        )
    params_record(spec["backend"], params, f"{where}.params")
    if spec["backend"] == "openai" and not trusted:
        bind_provider(JudgeConfig(name="check", backend="openai", model=spec.get("model", ""),
                                  params=params), where)  # fmt: skip
    for i, member in enumerate(spec.get("members", ())):
        if isinstance(member, str):
            _check_name(member, f"{where}.members[{i}]")
        else:
            check_judge(member, f"{where}.members[{i}]", trusted=trusted)


@dataclasses.dataclass(frozen=True)
class _JudgeSpec:
    backend: str
    model: str = ""
    template: str = ""
    rubric: str = ""
    params: dict = dataclasses.field(default_factory=dict)
    members: tuple[Any, ...] = ()


def check_judge_config(value: Any) -> None:
    """A project's judge_config: `{"judges": {name: spec}, "harmlessness_rubric": text}`.
    Member names must resolve (to a judge here or a built-in) without a cycle."""
    if not isinstance(value, dict):
        raise ConfigError("judge_config", f"expected an object, got {value!r}", value)
    for key in value:
        if key not in JUDGE_CONFIG_KEYS:
            raise ConfigError(f"judge_config.{key}", "unknown key", value[key], JUDGE_CONFIG_KEYS)
    if not isinstance(value.get("harmlessness_rubric", ""), str):
        raise ConfigError("judge_config.harmlessness_rubric", "expected text", value["harmlessness_rubric"])
    judges = value.get("judges", {})
    if not isinstance(judges, dict):
        raise ConfigError("judge_config.judges", f"expected an object of judges by name, got {judges!r}")
    for name, spec in judges.items():
        _check_name(name, f"judge_config.judges.{name}")
        check_judge(spec, f"judge_config.judges.{name}")
    for name in judges:
        _check_members(judges, name, (name,))


def _check_members(judges: dict, name: str, path: tuple[str, ...]) -> None:
    for i, member in enumerate(judges[name].get("members", ())):
        if not isinstance(member, str):
            continue
        where = f"judge_config.judges.{name}.members[{i}]"
        if member in path:
            raise ConfigError(where, "ensemble members form a cycle: " + " -> ".join((*path, member)), member)
        if member in judges:
            _check_members(judges, member, (*path, member))
        elif member not in BUILTIN:
            raise ConfigError(where, f"no judge named {member!r}", member, tuple(sorted({*judges, *BUILTIN})))


# -- routing_config ----------------------------------------------------------------------


def check_routing_config(value: Any) -> None:
    """A project's routing_config: `{"policy": {...}, "judges": [names], "review": {...}}` and
    the guarantee keys; each part is checked against its record's fields, types and ranges."""
    if not isinstance(value, dict):
        raise ConfigError("routing_config", f"expected an object, got {value!r}", value)
    for key in value:
        if key not in ROUTING_CONFIG_KEYS:
            raise ConfigError(f"routing_config.{key}", "unknown key", value[key], ROUTING_CONFIG_KEYS)
    if "policy" in value:
        typed_record(RoutingPolicy, value["policy"], "routing_config.policy")
    judges = value.get("judges", [])
    if not isinstance(judges, list) or not all(isinstance(j, str) for j in judges):
        raise ConfigError("routing_config.judges", f"expected a list of judge names, got {judges!r}", judges)
    guarantee = {k: value[k] for k in GUARANTEE_KEYS if k in value}
    if guarantee:
        typed_record(GuaranteeConfig, guarantee, "routing_config")
    if "review" in value:  # how annotators see the items (labeling.argilla_review.ReviewConfig)
        typed_record(ReviewConfig, value["review"], "routing_config.review")
