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


def to_record(item: ReviewItem, seed: int = 0):
    import argilla as rg

    order = shown_order(item.pair_id, seed)
    first, second = (
        (item.response_a, item.response_b) if order is Order.AB else (item.response_b, item.response_a)
    )
    suggestions = []
    if item.ai_choice is not None and not item.blind:
        suggestions.append(
            rg.Suggestion(
                QUESTION,
                to_shown(item.ai_choice, order),
                score=item.ai_score,
                agent=item.agent or None,
                type="model",
            )
        )
    return rg.Record(
        id=item.record_id,
        fields={"prompt": item.prompt, "response1": first, "response2": second},
        metadata={
            "pair_id": item.pair_id,
            "category": item.category or "none",
            "reasons": list(item.reasons) or ["none"],
            "shown": order.value,
        },
        suggestions=suggestions,
    )


class ArgillaReview:
    """A project's review datasets on one Argilla server (the team's, or the local one)."""

    def __init__(self, api_url: str, api_key: str, workspace: str = "tandem", seed: int = 0):
        import argilla as rg

        self.client = rg.Argilla(api_url=api_url, api_key=api_key, timeout=30)
        self.workspace = workspace
        self.seed = seed

    def dataset(self, name: str, guidelines: str = "", min_submitted: int = 1):
        """The dataset `name`, created (with its workspace) on first use."""
        import argilla as rg

        if self.client.workspaces(self.workspace) is None:
            rg.Workspace(name=self.workspace, client=self.client).create()
        found = self.client.datasets(name=name, workspace=self.workspace)
        if found is not None:
            return found
        dataset = rg.Dataset(
            name=name,
            workspace=self.workspace,
            settings=dataset_settings(guidelines, min_submitted),
            client=self.client,
        )
        return dataset.create()

    def push(
        self,
        dataset,
        items: Iterable[ReviewItem],
        batch_size: int = 100,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Upsert records in batches (a re-push updates, never duplicates); returns how many."""
        pushed = 0
        for batch in _batches(list(items), batch_size):
            dataset.records.log([to_record(item, self.seed) for item in batch], batch_size=batch_size)
            pushed += len(batch)
            if progress is not None:
                progress(pushed)
        return pushed

    def pull(self, dataset, page: int = 500) -> Iterator[ReviewResponse]:
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


def _batches(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
