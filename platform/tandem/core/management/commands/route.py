"""`manage.py route --project NAME [--policy FILE | --policy-version N] [--judge NAME ...] [--json]
[--replay]`."""

import json

from django.core.management.base import BaseCommand, CommandError

from labeling.routing_replay import format_table
from tandem.core import routing, services
from tandem.core.management.commands.import_pairs import _project


class Command(BaseCommand):
    help = "Route judged pairs to human review or AI-only labels (or replay policies on labeled data)."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True)
        parser.add_argument("--policy", help="a JSON routing policy (default: the project's)")
        parser.add_argument(
            "--policy-version",
            type=int,
            help="re-apply a stored routing policy version (decides what it has not)",
        )
        parser.add_argument("--judge", action="append", help="judge(s) to route on (repeatable)")
        parser.add_argument(
            "--replay",
            action="store_true",
            help="simulate a grid of policies on human-labeled pairs; decide nothing",
        )
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts):
        project = _project(opts["project"], create=False)
        try:
            if opts["replay"]:
                return self._replay(project, opts)
            if opts["policy_version"] is not None:
                policy = routing.resolve_policy(project, version=opts["policy_version"])
            else:
                policy = routing.project_policy(project, opts["policy"])
            result = routing.route_pairs(project, policy, opts["judge"])
        except services.ServiceError as err:
            raise CommandError(err.message) from err
        if opts["json"]:
            self.stdout.write(json.dumps(result))
            return None
        if result.get("mode") == "guarantee":
            return self._guarantee(result)
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(result["routed_by_reason"].items())) or "none"
        self.stdout.write(
            f"policy v{result['policy_version']} on {', '.join(result['judges'])}: {result['pairs']} pairs "
            f"decided ({result['already_decided']} before): {result['human']} to humans, "
            f"{result['ai_only']} AI only, {result['over_budget']} over budget; reasons: {reasons}"
        )
        if result.get("gold"):
            self.stdout.write(f"{result['gold']} gold items to humans (outside the budget)")
        return None

    def _guarantee(self, result: dict) -> None:
        """The guarantee, each threshold, coverage, cost per label and warnings, for people."""
        self.stdout.write(f"guarantee mode, policy v{result['policy_version']}: {result['guarantee']}")
        self.stdout.write(f"calibrated on {result['audited']} audited pairs; thresholds:")
        for t in result["thresholds"]:
            if t["value"] is None:
                value = "none passed (keeps nothing)"
            else:
                value = f"estimated agreement >= {t['value']:.3f}"
            agreement = "-" if t["agreement"] is None else f"{t['agreement']:.1%}"
            self.stdout.write(
                f"  {t['judge']} on {t['group'] or '(all)'}: {value} (score learned on {t.get('learned', 0)} "
                f"audited pairs, tested on {t['audited']}); keeps {t['kept']} of the {t['audited']}, "
                f"agreement {agreement}"
            )
        kept = ", ".join(f"{j} {n}" for j, n in result["kept_by_judge"].items())
        self.stdout.write(
            f"{result['pairs']} pairs decided ({result['already_decided']} before): coverage "
            f"{result['coverage']:.1%} AI labels ({kept}), {result['human']} to humans; "
            f"cost per label ${result['cost_per_label']:.4f} (the judge calls made and this version's "
            f"human labels, per pair judged)"
        )
        for judge, calls in result.get("judge_calls", {}).items():
            share = calls["pairs"] / calls["of"] if calls["of"] else 0.0
            self.stdout.write(f"{judge} judged {calls['pairs']:,} of {calls['of']:,} pairs ({share:.0%})")
        for judge, wait in result.get("waiting", {}).items():
            self.stdout.write(
                f"{wait['pairs']:,} pairs wait for {judge} (the judges before it did not keep them) and "
                f"{wait['audit_pairs']:,} blind audit pairs lack its verdict: run `{wait['command']}`, "
                "then route again"
            )
        if calibration := result.get("waiting_for_calibration"):
            self.stdout.write(
                f"{calibration['pairs']:,} pairs wait for the calibration: {calibration['audit_pairs']:,} "
                f"audited pairs lack {calibration['judge']}'s verdict (each judge's threshold is learned on "
                f"pairs every judge has judged): run `{calibration['command']}`, then route again"
            )
        if result.get("gold"):
            self.stdout.write(f"{result['gold']} gold items to humans (outside the cascade)")
        for warning in result["warnings"]:
            self.stdout.write(f"warning: {warning}")

    def _replay(self, project, opts):
        rows, labelled, judges = routing.replay_table(project, opts["judge"])
        if opts["json"]:
            self.stdout.write(
                json.dumps(
                    [
                        {
                            **r.policy.as_dict(),
                            "human_share": r.human_share,
                            "accuracy": r.accuracy,
                            "random_accuracy": r.random_accuracy,
                            "ai_only_accuracy": r.ai_only_accuracy,
                            "errors_removed": r.errors_removed,
                            "random_errors_removed": r.random_errors_removed,
                        }
                        for r in rows
                    ]
                )
            )
        else:
            self.stdout.write(f"routing replay on {labelled} labeled pairs, judges {', '.join(judges)}")
            self.stdout.write(format_table(rows))
