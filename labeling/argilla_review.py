"""Human review in Argilla, through its SDK: push pairs as records, pull submitted responses.

One dataset per project round, in the project's own workspace: fields prompt / response 1 /
response 2 (which pair response is shown first is random per pair but fixed), a label question
1 / 2 / tie, an optional rationale and guidelines built from the rubric.

Blind review is blind: nothing an annotator can see or filter on tells an audit item from a
routed one. So a record carries no metadata at all (Argilla returns every metadata value of a
record to any workspace member through `GET /api/v1/records/{id}`, even for properties marked
hidden from annotators), and its id is opaque: an HMAC of the dataset and the pair under a
secret the platform keeps, so it encodes neither the pair nor audit-ness, and sorting by it
shuffles. Pair id, shown order, routing reasons and category stay on Tandem's side, which maps
the opaque id back to the pair when it pulls. Whether an item shows the AI suggestion is
decided by the platform (`ReviewConfig`): audit items never do, and when suggestions are
shown, a random hold-out of routed items does not either (see `ReviewConfig`).

Pushing twice updates instead of duplicating (the id is a function of dataset and pair);
only submitted responses are labels (drafts and discards are not), one per (record, user).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from labeling.records import Choice, Order
from labeling.typed_config import ConfigError, typed_record

QUESTION = "preference"
RATIONALE = "rationale"
SHOWN = {"1": "first", "2": "second", "tie": "tie"}


class ReviewConfigError(ValueError):
    """A project's review settings are wrong; the message names the key and the valid values."""

    code = "review_config"


@dataclass(frozen=True)
class ReviewConfig:
    """How a project shows its items to annotators (`routing_config["review"]`).

    `suggestions`: "hidden" (the default) shows no AI suggestion on any record, so audit items
    and routed items look the same. "shown" shows the judge's answer on routed items, which
    speeds labeling but anchors annotators; audit items never show it. Then, were every routed
    item to show it, the absence of a suggestion alone would mark the audit items; so a random
    `holdout` share of routed items (default half) is shown without it too. An annotator who
    sees no suggestion then cannot tell an audit item from a held-out routed one, and the audit
    measures the anchoring effect by comparing the held-out routed items with the others
    (the same kind of item, split by chance). Items with a suggestion are known to be routed:
    that reveals nothing about the audit items, whose labels are all collected without one.
    """

    suggestions: Literal["hidden", "shown"] = "hidden"
    holdout: float = 0.5

    def __post_init__(self) -> None:
        where = 'routing_config["review"]'
        if not 0 < self.holdout < 1:
            raise ReviewConfigError(
                f"{where}.holdout is {self.holdout}: it must be above 0 (else a missing suggestion marks "
                "the audit items) and below 1 (else no routed item shows the suggestion)"
            )

    @classmethod
    def from_dict(cls, raw: Mapping | None) -> ReviewConfig:
        """The config from the project's JSON, checked like every config (labeling.typed_config:
        unknown keys with the closest valid one, types, choices); raises ReviewConfigError."""
        try:
            return typed_record(cls, {} if raw is None else raw, "routing_config.review")
        except ConfigError as error:
            raise ReviewConfigError(str(error)) from error


@dataclass(frozen=True)
class RecordKey:
    """Opaque record ids and hold-out draws, from an HMAC under a secret the platform keeps."""

    secret: bytes

    def digest(self, dataset: str, pair_id: int) -> bytes:
        return hmac.new(self.secret, f"{dataset}\x00{pair_id}".encode(), hashlib.sha256).digest()

    def record_id(self, dataset: str, pair_id: int) -> str:
        """`r` and 24 hex digits: no pair id in it, and unguessable without the secret."""
        return "r" + self.digest(dataset, pair_id)[:12].hex()

    def held_out(self, dataset: str, pair_id: int, share: float) -> bool:
        """A random-looking draw, fixed per (dataset, pair), true for about `share` of pairs."""
        draw = int.from_bytes(self.digest(dataset, pair_id)[16:24], "big") / 2**64
        return draw < share


@dataclass(frozen=True)
class ReviewItem:
    """What one record shows; `show_suggestion` is the platform's decision (see ReviewConfig)."""

    pair_id: int
    record_id: str  # opaque (RecordKey.record_id)
    prompt: str
    response_a: str
    response_b: str
    show_suggestion: bool = False
    ai_choice: Choice | None = None  # the AI's winner in the pair's terms (None: no suggestion)
    ai_score: float | None = None  # the AI's confidence in that winner, in [0, 1]
    agent: str = ""


@dataclass(frozen=True)
class ReviewResponse:
    pair_id: int
    annotator: str
    status: str  # submitted, draft or discarded
    choice: Choice | None  # in the pair's terms; None unless submitted
    rationale: str
    response_key: str  # stable per (record, user)


@dataclass(frozen=True)
class Pulled:
    """A dataset's responses, and the ids of records Tandem could not map to a pair."""

    responses: list[ReviewResponse]
    unknown_records: list[str]


def shown_order(pair_id: int, seed: int = 0) -> Order:
    """Which response is shown first: random-looking, fixed per pair (and per seed)."""
    digest = hashlib.sha256(f"shown:{seed}:{pair_id}".encode()).digest()
    return Order.AB if digest[0] % 2 == 0 else Order.BA


def to_shown(choice: Choice, order: Order) -> str:
    if choice is Choice.TIE:
        return "tie"
    first = Choice.A if order is Order.AB else Choice.B
    return "1" if choice is first else "2"


def from_shown(value: str, order: Order) -> Choice:
    if value == "tie":
        return Choice.TIE
    first_is_a = order is Order.AB
    return Choice.A if (value == "1") == first_is_a else Choice.B


def dataset_settings(guidelines: str, min_submitted: int = 1):
    """Fields, questions and overlap; no metadata properties (see the module docstring)."""
    import argilla as rg

    return rg.Settings(
        guidelines=guidelines or "Choose the better response to the prompt.",
        fields=[
            rg.TextField(name="prompt", title="Prompt", use_markdown=True),
            rg.TextField(name="response1", title="Response 1", use_markdown=True),
            rg.TextField(name="response2", title="Response 2", use_markdown=True),
        ],
        questions=[
            rg.LabelQuestion(
                name=QUESTION,
                title="Which response is better?",
                labels={"1": "Response 1", "2": "Response 2", "tie": "Tie"},
            ),
            rg.TextQuestion(name=RATIONALE, title="Why? (optional)", required=False),
        ],
        distribution=rg.TaskDistribution(min_submitted=min_submitted),
    )


def record_parts(item: ReviewItem, seed: int = 0) -> tuple[dict, dict | None]:
    """(fields, suggestion or None) of the item's record, in the shown order."""
    order = shown_order(item.pair_id, seed)
    first, second = (
        (item.response_a, item.response_b) if order is Order.AB else (item.response_b, item.response_a)
    )
    fields_ = {"prompt": item.prompt, "response1": first, "response2": second}
    suggestion = None
    if item.show_suggestion and item.ai_choice is not None:
        suggestion = {
            "value": to_shown(item.ai_choice, order),
            "score": item.ai_score,
            "agent": item.agent or None,
            "type": "model",
        }
    return fields_, suggestion


def to_record(item: ReviewItem, seed: int = 0):
    """The item as the SDK's record (for code that logs through the SDK)."""
    import argilla as rg

    fields_, suggestion = record_parts(item, seed)
    suggestions = [rg.Suggestion(QUESTION, **suggestion)] if suggestion else []
    return rg.Record(id=item.record_id, fields=fields_, suggestions=suggestions)


def record_body(item: ReviewItem, question_ids: dict[str, str], seed: int = 0) -> dict:
    """The item as an item of the server's bulk upsert (PUT /api/v1/datasets/{id}/records/bulk),
    keyed by its opaque external id so a second push updates it."""
    fields_, suggestion = record_parts(item, seed)
    suggestions = [{"question_id": question_ids[QUESTION], **suggestion}] if suggestion else []
    return {"external_id": item.record_id, "fields": fields_, "suggestions": suggestions}


class ArgillaError(RuntimeError):
    """Argilla refused a request; the message has the status and the server's explanation."""


class ArgillaUnavailable(ArgillaError, ConnectionError):
    """502, 503 or 504: the server (or the proxy before it) is down for now; worth a retry."""


@dataclass(frozen=True)
class Assignment:
    """Who a sync added to or removed from a workspace, and the usernames Argilla lacks."""

    added: list[str]
    removed: list[str]
    missing: list[str]


class ArgillaReview:
    """Review datasets on one Argilla server (the team's, or the local one), one workspace each
    project (the caller names it)."""

    def __init__(self, api_url: str, api_key: str, seed: int = 0):
        import argilla as rg

        self.client = rg.Argilla(api_url=api_url, api_key=api_key, timeout=30)
        self.seed = seed
        self._question_ids: dict[str, dict[str, str]] = {}

    def workspace(self, name: str):
        """The workspace `name`, created on first use."""
        import argilla as rg

        with warnings.catch_warnings():  # "not found" is the expected answer the first time
            warnings.filterwarnings("ignore", "Workspace with name", UserWarning)
            found = self.client.workspaces(name)
        return found if found is not None else rg.Workspace(name=name, client=self.client).create()

    def dataset(self, name: str, guidelines: str = "", min_submitted: int = 1, *, workspace: str = "tandem"):
        """(dataset `name` of `workspace`, whether it was created now): created on first use."""
        import argilla as rg

        self.workspace(workspace)
        with warnings.catch_warnings():  # "not found" is the expected answer the first time
            warnings.filterwarnings("ignore", "Dataset with name", UserWarning)
            found = self.client.datasets(name=name, workspace=workspace)
        if found is not None:
            return found, False
        dataset = rg.Dataset(
            name=name,
            workspace=workspace,
            settings=dataset_settings(guidelines, min_submitted),
            client=self.client,
        )
        return dataset.create(), True

    def assign(self, workspace: str, annotators: Iterable[str]) -> Assignment:
        """Make the workspace's annotator-role members exactly `annotators` (owners and admins
        are left alone): those who left the project lose its datasets, newcomers get them.
        A username Argilla does not know is listed in `missing`, never created: Tandem has no
        password to give it. Simulated annotators (`sim-*`, replaying recorded labels) stay."""
        space = self.workspace(workspace)
        wanted = set(annotators)
        users = {u.username: u for u in self.client.users}
        members = {u.username: u for u in space.users}
        removed = sorted(
            n
            for n, u in members.items()
            if u.role == "annotator" and n not in wanted and not n.startswith(SimulatedAnnotators.PREFIX)
        )
        for name in removed:
            space.remove_user(members[name])
        added = sorted(n for n in wanted if n in users and n not in members)
        for name in added:
            space.add_user(users[name])
        return Assignment(added=added, removed=removed, missing=sorted(wanted - set(users)))

    def push(
        self,
        dataset,
        items: Iterable[ReviewItem],
        batch_size: int = 100,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Upsert records in batches (a re-push updates, never duplicates); returns how many.

        Straight to the server's bulk endpoint with the SDK's HTTP client, not the SDK's
        `records.log`: that validates every record on this side, then parses every record the
        server sends back into objects nobody reads, about 7% of a push at 100 records a batch
        (bench/argilla_push.py); the server validates each record anyway and says which failed.
        """
        http = self.client.api.http_client
        question_ids = self.question_ids(dataset)
        pushed = 0
        for batch in _batches(list(items), batch_size):
            answer = http.put(
                f"/api/v1/datasets/{dataset.id}/records/bulk",
                json={"items": [record_body(item, question_ids, self.seed) for item in batch]},
            )
            _raise_for_status(
                answer, f"push {len(batch)} records (pairs {batch[0].pair_id}..) to {dataset.name}"
            )
            pushed += len(batch)
            if progress is not None:
                progress(pushed)
        return pushed

    def question_ids(self, dataset) -> dict[str, str]:
        """{question name: id} of the dataset (read once per dataset)."""
        key = str(dataset.id)
        if key not in self._question_ids:
            answer = self.client.api.http_client.get(f"/api/v1/datasets/{key}/questions")
            _raise_for_status(answer, f"read the questions of dataset {dataset.name}")
            self._question_ids[key] = {q["name"]: q["id"] for q in answer.json()["items"]}
        return self._question_ids[key]

    def pull(self, dataset_id: str, pair_of: Mapping[str, int], page: int = 1000) -> Pulled:
        """Every response on the dataset's records, mapped to the pair's terms.

        `pair_of` maps a record's opaque id to its pair (Tandem's side of the secret). Read
        from the REST API, page by page: the SDK's record iterator fails on a discarded
        response that carries no values (argilla 2.8.0).
        """
        users = {str(u.id): u.username for u in self.client.users}
        responses, unknown = [], []
        for record in self.records(dataset_id, page):
            pair_id = pair_of.get(str(record.get("external_id")))
            if pair_id is None:
                unknown.append(str(record.get("external_id")))
                continue
            order = shown_order(pair_id, self.seed)
            for response in record.get("responses") or []:
                values = response.get("values") or {}
                status = str(response["status"]).lower()
                value = (values.get(QUESTION) or {}).get("value")
                responses.append(
                    ReviewResponse(
                        pair_id=pair_id,
                        annotator=users.get(str(response["user_id"]), str(response["user_id"])),
                        status=status,
                        choice=from_shown(str(value), order) if status == "submitted" and value else None,
                        rationale=str((values.get(RATIONALE) or {}).get("value") or ""),
                        response_key=str(response["id"]),
                    )
                )
        return Pulled(responses, unknown)

    def records(self, dataset_id: str, page: int = 1000) -> Iterator[dict]:
        """The dataset's records with their responses, as the owner reads them."""
        http = self.client.api.http_client
        offset = 0
        while True:
            answer = http.get(
                f"/api/v1/datasets/{dataset_id}/records",
                params={"include": "responses", "offset": offset, "limit": page},
            )
            _raise_for_status(answer, f"read the records of dataset {dataset_id}")
            items = answer.json()["items"]
            yield from items
            if len(items) < page:
                return
            offset += page


class SimulatedAnnotators:
    """Argilla users that replay recorded human answers through Argilla's own API.

    For data sets that carry human labels: each recorded human becomes an annotator (`sim-<name>`)
    of the project's workspace, whose password is derived from the owner's key (so a re-run
    finds the same users), and their recorded choices are submitted as real responses,
    shown-order mapping included.
    """

    PREFIX = "sim-"

    def __init__(self, review: ArgillaReview, owner_key: str, workspace: str):
        self.review = review
        self.owner_key = owner_key
        self.workspace = workspace
        self.keys: dict[str, str] = {}

    @staticmethod
    def username(annotator: str) -> str:
        cleaned = re.sub(r"[^a-z0-9-]+", "-", annotator.lower()).strip("-")[:40] or "annotator"
        return f"{SimulatedAnnotators.PREFIX}{cleaned}"

    def api_key(self, annotator: str) -> str:
        import argilla as rg
        import httpx

        username = self.username(annotator)
        if username in self.keys:
            return self.keys[username]
        client = self.review.client
        password = hmac.new(self.owner_key.encode(), username.encode(), hashlib.sha256).hexdigest()[:24]
        with warnings.catch_warnings():  # "not found" is the expected answer the first time
            warnings.filterwarnings("ignore", "User with username", UserWarning)
            existing = client.users(username)
        user = (
            existing
            or rg.User(username=username, password=password, role="annotator", client=client).create()
        )
        workspace = self.review.workspace(self.workspace)
        if username not in {u.username for u in workspace.users}:
            workspace.add_user(user)
        http = client.api.http_client
        with httpx.Client(base_url=str(http.base_url), timeout=30) as anonymous:
            token = anonymous.post("/api/v1/token", data={"username": username, "password": password})
            token.raise_for_status()
            me = anonymous.get(
                "/api/v1/me", headers={"Authorization": f"Bearer {token.json()['access_token']}"}
            )
            me.raise_for_status()
        self.keys[username] = me.json()["api_key"]
        return self.keys[username]

    def submit(
        self, dataset_id: str, answers: dict[int, list[tuple[str, Choice]]], pair_of: Mapping[str, int]
    ) -> int:
        """Submit the recorded answers ({pair_id: [(annotator, choice)]}) not yet submitted;
        `pair_of` maps record ids to pairs, as for `ArgillaReview.pull`."""
        import httpx

        http = self.review.client.api.http_client
        users = {str(u.id): u.username for u in self.review.client.users}
        submitted = 0
        for record in self.review.records(dataset_id, 500):
            pair_id = pair_of.get(str(record.get("external_id")))
            if pair_id is None:
                continue
            order = shown_order(pair_id, self.review.seed)
            done = {users.get(str(r["user_id"])) for r in record.get("responses") or []}
            for annotator, choice in answers.get(pair_id, []):
                if self.username(annotator) in done:
                    continue
                # Its own client: the SDK's sends the owner's key whatever headers a call passes.
                with httpx.Client(
                    base_url=str(http.base_url),
                    timeout=30,
                    headers={"X-Argilla-Api-Key": self.api_key(annotator)},
                ) as annotator_http:
                    answer = annotator_http.post(
                        f"/api/v1/records/{record['id']}/responses",
                        json={
                            "status": "submitted",
                            "values": {QUESTION: {"value": to_shown(choice, order)}},
                        },
                    )
                _raise_for_status(answer, f"submit {annotator}'s answer on pair {pair_id}")
                submitted += 1
        return submitted


def _raise_for_status(answer, what: str) -> None:
    if answer.is_error:
        error = ArgillaUnavailable if answer.status_code in (502, 503, 504) else ArgillaError
        raise error(f"Argilla refused to {what}: HTTP {answer.status_code}: {answer.text[:500]}")


def _batches(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
