"""The critique-and-revise service: the project's judge critiques its candidate responses against
the project's rubric, a policy rewrites them, and each rewrite is imported as a new pair
(original vs revised). The logic is labeling.revision; this maps Pair rows to it and back.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from django.conf import settings

from .models import Pair, Project
from .services import Cancelled, ImportSummary, Progress, ServiceError, ShouldCancel, import_pairs


def revision_items(project: Project, limit: int | None = None, slots: str = "ab") -> list:
    """The distinct (prompt, response) candidates of the project's first `limit` pairs (by id),
    from the slots asked for; pairs that are themselves revisions are not revised again."""
    from labeling.revision import RevisionItem, unique_items

    items = []
    pairs = Pair.objects.filter(project=project).order_by("id")
    pairs = pairs.exclude(metadata__has_key="revision")[:limit]
    for pair in pairs:
        for slot in slots:
            items.append(
                RevisionItem(
                    prompt=pair.prompt,
                    response=getattr(pair, f"response_{slot}"),
                    model=getattr(pair, f"model_{slot}"),
                    category=pair.category,
                    origin={"pair": pair.pk, "slot": slot},
                )
            )
    return unique_items(items)


def revise_candidates(
    project: Project,
    judge: str,
    policy_config,
    *,
    limit: int | None = None,
    slots: str = "ab",
    progress: Progress | None = None,
    should_cancel: ShouldCancel | None = None,
    allow_files: bool = False,
) -> dict:
    """Critique with `judge` (a judge name, or with `allow_files` (the CLI) a config file,
    resolved like `manage.py judge`) and
    revise with the policy of `policy_config` (a GenerationConfig: local model or endpoint);
    import one pair per changed revision. Resumable: finished revisions are kept under
    var/generated/. Raises ServiceError when the critic or the policy cannot run."""
    from labeling import revision
    from labeling.chat import GenerationError

    from .judging import resolve_config

    judge_config = resolve_config(project, judge, allow_files=allow_files)
    config = revision.RevisionConfig(rubric=judge_config.rubric or project.rubric)
    items = revision_items(project, limit, slots)
    if not items:
        raise ServiceError(f"project '{project.name}' has no pairs to revise")
    try:
        critic = revision.critic_from_judge(judge_config)
        policy = policy_config.policy()
    except GenerationError as err:
        raise ServiceError(str(err)) from err
    identity = json.dumps(
        [project.pk, judge_config.config_hash(), repr(policy_config), policy_config.base_url, repr(config)]
    )
    folder = Path(settings.VAR_DIR) / "generated"
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{project.name}-{hashlib.sha256(identity.encode()).hexdigest()[:12]}.revisions.jsonl"
    try:
        revised = revision.revise_to_file(items, out, critic, policy, config, progress, should_cancel)
    except GenerationError as err:
        raise ServiceError(str(err)) from err
    if should_cancel is not None and should_cancel():
        raise Cancelled(f"revision cancelled after {revised} responses; run it again to continue")
    keys = {i.key for i in items}
    records = [r for r in revision.read_revisions(out) if r["key"] in keys]
    pairs_file = out.with_suffix(".pairs.jsonl")
    rows = [json.dumps(p) + "\n" for p in revision.revision_pairs(records)]
    pairs_file.write_text("".join(rows), encoding="utf-8")
    # Every revision unchanged: nothing to import (an empty file is an import error).
    summary = import_pairs(project, pairs_file, "pairs") if rows else ImportSummary(str(pairs_file), "pairs")
    return {
        "responses": len(items),
        "revised_now": revised,
        "unchanged": sum(not r["changed"] for r in records),
        "critic": judge_config.name,
        "policy": policy_config.model,
        "revisions_file": str(out),
        "import": summary.as_dict(),
    }
