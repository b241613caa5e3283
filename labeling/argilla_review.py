"""Human review in Argilla, through its SDK: push pairs as records, pull submitted responses.

One dataset per project round: fields prompt / response 1 / response 2 (which pair response is
shown first is random per pair but fixed, and recorded in the record's metadata), a label
question 1 / 2 / tie, an optional rationale, guidelines built from the rubric, and metadata
(pair id, category, routing reasons). The AI's verdict goes in as a suggestion (value, score,
agent = judge), except on blind audit items, where the annotator must not see it.

Records are keyed by the pair (`pair-<id>`), so pushing twice updates instead of duplicating;
only submitted responses are labels (drafts and discards are not), one per (record, user).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from labeling.records import Choice, Order

QUESTION = "preference"
RATIONALE = "rationale"
SHOWN = {"1": "first", "2": "second", "tie": "tie"}


@dataclass(frozen=True)
class ReviewItem:
    pair_id: int
    prompt: str
    response_a: str
    response_b: str
    category: str = ""
    reasons: tuple[str, ...] = ()
    blind: bool = False
    ai_choice: Choice | None = None  # the AI's winner in the pair's terms (None: no suggestion)
    ai_score: float | None = None  # the AI's confidence in that winner, in [0, 1]
    agent: str = ""

    @property
    def record_id(self) -> str:
        return f"pair-{self.pair_id}"


@dataclass(frozen=True)
class ReviewResponse:
    pair_id: int
    annotator: str
    status: str  # submitted, draft or discarded
    choice: Choice | None  # in the pair's terms; None unless submitted
    rationale: str
    response_key: str  # stable per (record, user)


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
        metadata=[
            rg.IntegerMetadataProperty(name="pair_id"),
            rg.TermsMetadataProperty(name="category"),
            rg.TermsMetadataProperty(name="reasons"),
            rg.TermsMetadataProperty(name="shown", options=["ab", "ba"]),
        ],
        distribution=rg.TaskDistribution(min_submitted=min_submitted),
    )


def record_parts(item: ReviewItem, seed: int = 0) -> tuple[dict, dict, dict | None]:
    """(fields, metadata, suggestion or None) of the item's record, in the shown order."""
    order = shown_order(item.pair_id, seed)
    first, second = (
        (item.response_a, item.response_b) if order is Order.AB else (item.response_b, item.response_a)
    )
    fields = {"prompt": item.prompt, "response1": first, "response2": second}
    metadata = {
        "pair_id": item.pair_id,
        "category": item.category or "none",
        "reasons": list(item.reasons) or ["none"],
        "shown": order.value,
    }
    suggestion = None
    if item.ai_choice is not None and not item.blind:
        suggestion = {
            "value": to_shown(item.ai_choice, order),
            "score": item.ai_score,
            "agent": item.agent or None,
            "type": "model",
        }
    return fields, metadata, suggestion


def to_record(item: ReviewItem, seed: int = 0):
    """The item as the SDK's record (for code that logs through the SDK)."""
    import argilla as rg

    fields, metadata, suggestion = record_parts(item, seed)
    suggestions = [rg.Suggestion(QUESTION, **suggestion)] if suggestion else []
    return rg.Record(id=item.record_id, fields=fields, metadata=metadata, suggestions=suggestions)


def record_body(item: ReviewItem, question_ids: dict[str, str], seed: int = 0) -> dict:
    """The item as an item of the server's bulk upsert (PUT /api/v1/datasets/{id}/records/bulk),
    keyed by its external id `pair-<id>` so a second push updates it."""
    fields, metadata, suggestion = record_parts(item, seed)
    suggestions = [{"question_id": question_ids[QUESTION], **suggestion}] if suggestion else []
    return {"external_id": item.record_id, "fields": fields, "metadata": metadata, "suggestions": suggestions}


class ArgillaError(RuntimeError):
    """Argilla refused a request; the message has the status and the server's explanation."""


class ArgillaUnavailable(ArgillaError, ConnectionError):
    """502, 503 or 504: the server (or the proxy before it) is down for now; worth a retry."""


class ArgillaReview:
    """A project's review datasets on one Argilla server (the team's, or the local one)."""

    def __init__(self, api_url: str, api_key: str, workspace: str = "tandem", seed: int = 0):
        import argilla as rg

        self.client = rg.Argilla(api_url=api_url, api_key=api_key, timeout=30)
        self.workspace = workspace
        self.seed = seed
        self._question_ids: dict[str, dict[str, str]] = {}

    def dataset(self, name: str, guidelines: str = "", min_submitted: int = 1):
        """(dataset `name`, whether it was created now): created with its workspace on first use."""
        import argilla as rg

        if self.client.workspaces(self.workspace) is None:
            rg.Workspace(name=self.workspace, client=self.client).create()
        with warnings.catch_warnings():  # "not found" is the expected answer the first time
            warnings.filterwarnings("ignore", "Dataset with name", UserWarning)
            found = self.client.datasets(name=name, workspace=self.workspace)
        if found is not None:
            return found, False
        dataset = rg.Dataset(
            name=name,
            workspace=self.workspace,
            settings=dataset_settings(guidelines, min_submitted),
            client=self.client,
        )
        return dataset.create(), True

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
                answer, f"push records {batch[0].record_id}..{batch[-1].record_id} to {dataset.name}"
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

    def pull(self, dataset, page: int = 1000) -> Iterator[ReviewResponse]:
        """Every response on the dataset's records, mapped to the pair's terms.

        Read from the REST API, page by page: the SDK's record iterator fails on a discarded
        response that carries no values (argilla 2.8.0).
        """
        users = {str(u.id): u.username for u in self.client.users}
        for record in self._records_with_responses(str(dataset.id), page):
            order = Order(record["metadata"].get("shown", "ab"))
            pair_id = int(record["metadata"]["pair_id"])
            for response in record.get("responses") or []:
                values = response.get("values") or {}
                status = str(response["status"]).lower()
                value = (values.get(QUESTION) or {}).get("value")
                yield ReviewResponse(
                    pair_id=pair_id,
                    annotator=users.get(str(response["user_id"]), str(response["user_id"])),
                    status=status,
                    choice=from_shown(str(value), order) if status == "submitted" and value else None,
                    rationale=str((values.get(RATIONALE) or {}).get("value") or ""),
                    response_key=str(response["id"]),
                )

    def _records_with_responses(self, dataset_id: str, page: int) -> Iterator[dict]:
        http = self.client.api.http_client
        offset = 0
        while True:
            answer = http.get(
                f"/api/v1/datasets/{dataset_id}/records",
                params={"include": "responses", "offset": offset, "limit": page},
            )
            answer.raise_for_status()
            items = answer.json()["items"]
            yield from items
            if len(items) < page:
                return
            offset += page


class SimulatedAnnotators:
    """Argilla users that replay recorded human answers through Argilla's own API.

    For data sets that carry human labels: each recorded human becomes an annotator (`sim-<name>`)
    whose password is derived from the owner's key (so a re-run finds the same users), and their
    recorded choices are submitted as real responses, shown-order mapping included.
    """

    def __init__(self, review: ArgillaReview, owner_key: str):
        self.review = review
        self.owner_key = owner_key
        self.keys: dict[str, str] = {}

    @staticmethod
    def username(annotator: str) -> str:
        cleaned = re.sub(r"[^a-z0-9-]+", "-", annotator.lower()).strip("-")[:40] or "annotator"
        return f"sim-{cleaned}"

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
        workspace = client.workspaces(self.review.workspace)
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

    def submit(self, dataset, answers: dict[int, list[tuple[str, Choice]]]) -> int:
        import httpx

        """Submit the recorded answers ({pair_id: [(annotator, choice)]}) not yet submitted."""
        http = self.review.client.api.http_client
        users = {str(u.id): u.username for u in self.review.client.users}
        submitted = 0
        for record in self.review._records_with_responses(str(dataset.id), 500):
            pair_id = int(record["metadata"]["pair_id"])
            order = Order(record["metadata"].get("shown", "ab"))
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
                answer.raise_for_status()
                submitted += 1
        return submitted


def _raise_for_status(answer, what: str) -> None:
    if answer.is_error:
        error = ArgillaUnavailable if answer.status_code in (502, 503, 504) else ArgillaError
        raise error(f"Argilla refused to {what}: HTTP {answer.status_code}: {answer.text[:500]}")


def _batches(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
