"""Guarantee mode in the platform: calibrate the cascade on the blind audit sample, then decide.

A project is in guarantee mode when its `routing_config` carries `target_agreement` (with
`confidence`, `cascade` and `min_slice`: labeling.guarantee.GuaranteeConfig). The policy still
draws the blind audit sample (its `audit_rate`, `min_audited`, `seed`): that sample is what the
next calibration learns from, so it never stops. Every other pair keeps the label of the first
judge of the cascade whose learned score reaches its calibrated threshold, or goes to humans.
The score hears each judge's own verdict (both orders, calibration map applied), the pair's
slice, how many other judges of the cascade chose the same side, and whether the judge chose the
longer response. The RoutingDecision of a kept pair names that judge, and the blend
(core.datasets) takes that judge's label for it. Budget mode is `routing.route_pairs` without
these keys.

The cascade is lazy: a judge after the first is paid only on the pairs the judges before it did
not keep. A pair that needs a verdict the next judge has not given yet gets no decision: it
waits (the report names the judge and the command), and `judge --escalated` (`escalated_scope`)
judges exactly the waiting pairs and the blind audit pairs that judge has not seen; the next
route decides them. Decisions are the eager cascade's (labeling.guarantee.assign: a judge keeps a
pair before the later judges have spoken only where it would keep it whatever they say), so the
guarantee and the humans' share are those of every judge on every pair; the strong judge is
spared the pairs the cheap one keeps that way.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import asdict, dataclass

from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q, Sum
from django.db.models.functions import Length

from labeling.guarantee import (
    GUARANTEE_KEYS,
    Calibrated,
    GuaranteeConfig,
    Waiting,
    assign,
    calibrate_cascade,
    chose_longer,
    guarantee_text,
    others_agreeing,
    warnings,
)
from labeling.routing import PairSignals, PolicyError, Reason, RoutingPolicy, audit_sample
from labeling.verdicts import confidence, human_majority

from . import routing
from .gold import gold_decisions
from .models import (
    Alert,
    CascadeWait,
    HumanLabel,
    Judgment,
    Pair,
    Project,
    RoutingDecision,
    RoutingPolicyVersion,
)
from .services import ServiceError

log = logging.getLogger(__name__)


def project_guarantee(project: Project) -> GuaranteeConfig | None:
    """The project's guarantee settings, or None in budget mode; ServiceError names a bad key."""
    raw = {k: v for k, v in (project.routing_config or {}).items() if k in GUARANTEE_KEYS}
    if not raw:
        return None
    try:
        return GuaranteeConfig.from_dict(raw)
    except PolicyError as err:
        raise ServiceError(f"routing_config: {err}") from err


def _audited_votes(project: Project) -> dict[int, list[str]]:
    """{pair id: human votes} on the blind audit sample so far (any policy version)."""
    blind = RoutingDecision.objects.filter(pair__project=project, blind=True).values_list(
        "pair_id", flat=True
    )
    votes: dict[int, list[str]] = defaultdict(list)
    for pair_id, choice in HumanLabel.objects.filter(pair_id__in=blind).values_list("pair_id", "choice"):
        votes[pair_id].append(choice)
    return votes


def _stage(project: Project, judge: str) -> dict[int, PairSignals]:
    """One judge's verdict per pair it has judged in both orders (a failed order counts: judged
    and failed), its raw confidence: the audit's calibration map is fitted on every audited vote,
    the testing half's too, so a score read through it would have seen the labels its threshold
    is tested on (the learned score calibrates per cell). A pair with one order stored is still
    being judged: the lazy cascade waits for the other."""
    half = set(
        Judgment.objects.filter(pair__project=project, judge=judge)
        .values("pair_id")
        .annotate(orders=Count("order", distinct=True))
        .filter(orders__lt=2)
        .values_list("pair_id", flat=True)
    )
    return {s.pair_id: s for s in routing.signals(project, [judge]) if s.pair_id not in half}


def latest_version(project: Project) -> RoutingPolicyVersion | None:
    """The project's newest routing policy version decided in guarantee mode."""
    versions = RoutingPolicyVersion.objects.filter(project=project, policy__has_key=routing.GUARANTEE_KEY)
    return versions.order_by("-version").first()


def escalated_scope(project: Project, judge: str):
    """The pairs `judge --escalated` judges, as a queryset (it streams, and each shard of a
    fanned-out job re-derives it): those the latest guarantee policy version's route left
    waiting for `judge` (its CascadeWait rows: never a pair that route has not seen) and the
    blind audit pairs of any version, which its calibration learns from. Pairs it has judged already
    are in the scope too; judging skips them. ServiceError for a project outside guarantee mode,
    a judge outside its cascade, or a project never routed in guarantee mode (nothing waits yet)."""
    config = project_guarantee(project)
    if config is None:
        raise ServiceError(
            f"project '{project.name}' is not in guarantee mode (its routing_config has no "
            f"'target_agreement'): --escalated judges what a guarantee-mode cascade left waiting"
        )
    if judge not in config.cascade:
        raise ServiceError(
            f"judge '{judge}' is not in the project's cascade {list(config.cascade)}: --escalated "
            f"judges the pairs the cascade's earlier judges did not keep"
        )
    version = latest_version(project)
    if version is None:
        raise ServiceError(
            f"project '{project.name}' has not been routed in guarantee mode yet: run "
            f"`manage.py route --project {project.name}` first; --escalated judges what it leaves waiting"
        )
    waiting = Exists(CascadeWait.objects.filter(pair=OuterRef("pk"), policy=version, judge=judge))
    audited = Exists(RoutingDecision.objects.filter(pair=OuterRef("pk"), blind=True))
    return Pair.objects.filter(project=project).filter(Q(waiting) | Q(audited))


def escalate_command(project: Project, judge: str) -> str:
    """The command that judges what waits for `judge`."""
    return f"python manage.py judge --project {project.name} --judge {judge} --escalated"


@dataclass(frozen=True)
class Cascade:
    """What the cascade's judges said: per judge, its verdict per pair; and each pair's response
    lengths in characters (for the verbosity signal)."""

    stages: dict[str, dict[int, PairSignals]]
    lengths: dict[int, tuple[int, int]]

    @classmethod
    def read(cls, project: Project, judges: list[str]) -> Cascade:
        rows = Pair.objects.filter(project=project).annotate(
            len_a=Length("response_a"), len_b=Length("response_b")
        )
        lengths = {pid: (a, b) for pid, a, b in rows.values_list("id", "len_a", "len_b").iterator()}
        return cls({judge: _stage(project, judge) for judge in judges}, lengths)

    def calibrated(self, judge: str, pair_id: int, slice_key: str, majority=None) -> Calibrated:
        """The pair as `judge` saw it, with how many other judges of the cascade agree and whether
        it chose the longer response; `agrees` compares with the human majority when given."""
        s = self.stages[judge].get(pair_id)
        if s is None:
            return Calibrated(None, False, slice_key)
        others = [
            self.stages[j][pair_id].choice for j in self.stages if j != judge and pair_id in self.stages[j]
        ]
        return Calibrated(
            confidence(s.choice, s.p_a),
            majority is not None and s.choice is not None and s.choice == majority,
            slice_key,
            others_agreeing(s.choice, others),
            chose_longer(s.choice, *self.lengths.get(pair_id, (0, 0))),
        )


def _settings(config: GuaranteeConfig) -> dict:
    """The guarantee settings as the policy version stores them (JSON: lists, not tuples)."""
    return json.loads(json.dumps(asdict(config)))


def _spent(project: Project, judges: list[str]) -> dict[str, float]:
    """What each judge's recorded calls on the project's pairs cost, in all."""
    rows = Judgment.objects.filter(pair__project=project, judge__in=judges).values("judge")
    totals = {j: float(t or 0) for j, t in rows.annotate(total=Sum("cost")).values_list("judge", "total")}
    return {j: totals.get(j, 0.0) for j in judges}


def _cascade_judges(project: Project, config: GuaranteeConfig) -> list[str]:
    """The cascade's judges: the first must have judged already (else NotReady/ConfigInvalid,
    as in budget mode); a later one without a verdict yet must be a judge Tandem can run, since
    the pairs the first gives up wait for it."""
    if not config.cascade:
        return routing.project_judges(project)[:1]
    judges = list(config.cascade)
    routing.project_judges(project, judges[:1])
    found = set(
        Judgment.objects.filter(pair__project=project, judge__in=judges).values_list("judge", flat=True)
    )
    from .judging import resolve_config  # judging reads escalated_scope from here

    for name in judges[1:]:
        if name not in found:
            resolve_config(project, name)  # ServiceError naming the unknown judge
    return judges


def calibrate(project: Project, config: GuaranteeConfig, cascade: Cascade):
    """((thresholds, learned scores) of the cascade, audited pairs, {judge: audited pairs it has
    not judged}), from the blind audit sample's human votes; a pair's id decides its half of the
    audit (learning or testing).

    Only audited pairs every judge of the cascade has judged are learned from: a judge's score
    hears how many others agree with it, and a missing verdict would be learned as disagreement,
    so the thresholds would not be the eager cascade's. The judges that lack audited pairs are
    returned: until they judge them, the calibration is incomplete."""
    votes = _audited_votes(project)
    first = cascade.stages[next(iter(cascade.stages))]
    voted = [pid for pid in votes if pid in first]
    lacking = {
        judge: n
        for judge, stage in cascade.stages.items()
        if (n := sum(1 for pid in voted if pid not in stage))
    }
    audited = sorted(pid for pid in voted if all(pid in stage for stage in cascade.stages.values()))
    by_judge = {
        judge: [
            cascade.calibrated(judge, pid, first[pid].slice_key, human_majority(votes[pid]))
            for pid in audited
        ]
        for judge in cascade.stages
    }
    return calibrate_cascade(by_judge, config, keys=[str(pid) for pid in audited]), len(audited), lacking


def route_with_guarantee(project: Project, policy: RoutingPolicy, config: GuaranteeConfig) -> dict:
    """Decide every pair the first judge has judged and that has no decision under this policy
    version, where the cascade's verdicts so far decide it; the rest wait for the next judge.
    Returns the report: the guarantee, each threshold, coverage, cost per label, what waits for
    which judge (and the command that judges it) and warnings."""
    judges = _cascade_judges(project, config)
    version = routing.policy_version(project, policy, _settings(config))
    cascade = Cascade.read(project, judges)
    (thresholds, scores), n_audited, lacking = calibrate(project, config, cascade)
    decided = set(RoutingDecision.objects.filter(policy=version).values_list("pair_id", flat=True))
    pending = [s for pid, s in sorted(cascade.stages[judges[0]].items()) if pid not in decided]
    # A pair an earlier route of this version left waiting was offered to that route's audit draw
    # and not drawn: drawing it again would audit the pairs the cheap judge gave up more often
    # than the rest, and calibrate on a skewed sample.
    seen = set(CascadeWait.objects.filter(policy=version).values_list("pair_id", flat=True))
    blind = audit_sample([s for s in pending if s.pair_id not in seen], policy.audit_rate, policy.seed)
    if lacking:  # thresholds learned without some judges' audit verdicts would not be the eager ones
        kept = [Waiting("") for _ in pending]
    else:
        kept = assign(
            {j: [cascade.calibrated(j, s.pair_id, s.slice_key) for s in pending] for j in judges},
            thresholds,
            scores,
            {j: [s.pair_id not in cascade.stages[j] for s in pending] for j in judges},
        )
    flags = routing.injection_flags([s.pair_id for s in pending]) if policy.route_injection else {}
    decisions, waits, waiting = [], [], defaultdict(int)
    for s, judge in zip(pending, kept, strict=True):
        audit = s.pair_id in blind
        # A response that addresses the judge may be what made it sure, and a high-stakes slice
        # is for people: neither is ever certified, nor worth a call to the next judge.
        forced = [Reason.INJECTION] if s.pair_id in flags else []
        if s.category and s.category in policy.high_stakes:
            forced.append(Reason.HIGH_STAKES)
        if isinstance(judge, Waiting) and not audit and not forced:
            waiting[judge.judge] += 1
            waits.append(CascadeWait(pair_id=s.pair_id, policy=version, judge=judge.judge))
            continue
        human = audit or bool(forced) or judge is None or isinstance(judge, Waiting)
        reasons = [Reason.AUDIT] * audit + forced
        if not reasons:
            reasons = [Reason.UNCERTIFIED if judge is None else Reason.CERTIFIED]
        decisions.append(
            RoutingDecision(
                pair_id=s.pair_id,
                policy=version,
                judges=judges if human else [judge],
                human=human,
                reasons=[r.value for r in reasons],
                blind=audit,
            )
        )
    notes = [] if lacking else warnings(thresholds, config)  # incomplete: no threshold was tried
    with transaction.atomic():
        RoutingDecision.objects.bulk_create(decisions, batch_size=1000)
        decided_now = RoutingDecision.objects.filter(pair=OuterRef("pair_id"), policy=version)
        CascadeWait.objects.filter(policy=version).filter(Exists(decided_now)).delete()
        CascadeWait.objects.bulk_create(
            waits,
            batch_size=1000,
            update_conflicts=True,
            unique_fields=["pair", "policy"],
            update_fields=["judge"],
        )
        gold = gold_decisions(project, version)  # outside the cascade, like audit items
        if flags:
            routing.injection_alert(project, policy, flags)
        for message in notes:
            Alert.objects.create(project=project, kind="guarantee", message=message, data={"judges": judges})
    for message in notes:
        log.warning("project %s: %s", project.name, message)
    report = _report(project, policy, config, judges, decisions, thresholds, n_audited, len(decided), notes)
    injection = {"injection": {str(k): v for k, v in sorted(flags.items())}, "gold": gold}
    lazy = _lazy_report(project, policy, version, cascade, judges, waiting, lacking)
    return {**report, **injection, **lazy}


def _lazy_report(
    project, policy, version, cascade: Cascade, judges: list[str], waiting: dict[str, int], lacking: dict
) -> dict:
    """What the lazy cascade asked and what it waits for: per judge, on how many of the pairs the
    first judge judged it was called; per later judge, the pairs waiting for it, the blind audit
    pairs it has not judged (its calibration needs them), and the command that judges both; and
    the cost per label under this version, from the judgments actually made."""
    first = cascade.stages[judges[0]]
    population = len(first)
    called = {j: sum(1 for pid in cascade.stages[j] if pid in first) for j in judges}
    blind = set(
        RoutingDecision.objects.filter(pair__project=project, blind=True).values_list("pair_id", flat=True)
    )
    waits = {}
    for judge in judges[1:]:
        audit = sum(1 for pid in blind if pid in first and pid not in cascade.stages[judge])
        if waiting.get(judge) or audit:
            waits[judge] = {
                "pairs": waiting.get(judge, 0),
                "audit_pairs": audit,
                "command": escalate_command(project, judge),
            }
    calibration = {}
    if waiting.get(""):
        judge = next(j for j in judges if j in lacking)
        calibration = {
            "pairs": waiting[""],
            "judge": judge,
            "audit_pairs": lacking[judge],
            "command": escalate_command(project, judge),
        }
    # Gold items are quality control, not labels this route bought (core.gold).
    human = RoutingDecision.objects.filter(policy=version, human=True, pair__gold="").count()
    spent = sum(_spent(project, judges).values()) + human * policy.price_per_label
    return {
        "judge_calls": {j: {"pairs": called[j], "of": population} for j in judges},
        "waiting": waits,
        "waiting_for_calibration": calibration,
        "cost_per_label": spent / population if population else 0.0,
    }


def _report(project, policy, config, judges, decisions, thresholds, n_audited, before, notes) -> dict:
    by_judge = {j: sum(1 for d in decisions if not d.human and d.judges == [j]) for j in judges}
    human = sum(d.human for d in decisions)
    by_reason = defaultdict(int)
    for d in decisions:
        for reason in d.reasons:
            by_reason[reason] += 1
    return {
        "mode": "guarantee",
        "policy_version": policy.version,
        "judges": judges,
        "guarantee": guarantee_text(config),
        "audited": n_audited,
        "thresholds": [asdict(t) for t in thresholds],
        "pairs": len(decisions),
        "already_decided": before,
        "human": human,
        "ai_only": len(decisions) - human,
        "kept_by_judge": by_judge,
        "coverage": (len(decisions) - human) / len(decisions) if decisions else 0.0,
        "over_budget": 0,
        "routed_by_reason": dict(by_reason),
        "alerts": notes,
        "warnings": notes,
    }
