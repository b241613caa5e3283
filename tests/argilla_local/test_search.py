"""The SQL search engine through argilla-server's search API: what the annotation UI asks for."""

from __future__ import annotations

import pytest

from tests.argilla_local.conftest import N_RECORDS, Deployment


def terms(entity: str, values: list, **scope) -> dict:
    return {"type": "terms", "scope": {"entity": entity, **scope}, "values": values}


def range_(entity: str, ge=None, le=None, **scope) -> dict:
    bounds = {key: value for key, value in (("ge", ge), ("le", le)) if value is not None}
    return {"type": "range", "scope": {"entity": entity, **scope}, **bounds}


def where(*filters: dict, sort: list | None = None, text: dict | None = None) -> dict:
    body: dict = {"filters": {"and": list(filters)}} if filters else {}
    if sort:
        body["sort"] = sort
    if text:
        body["query"] = {"text": text}
    return body


def status_is(*statuses: str) -> dict:
    return terms("response", list(statuses), property="status")


ALL = {f"pair-{i:02d}" for i in range(N_RECORDS)}


def test_each_annotator_gets_the_whole_queue_in_a_stable_order_of_their_own(deployment: Deployment):
    """annotator3 has answered nothing: their pending queue is every record, shuffled per user."""
    third, second = deployment.rest("annotator3"), deployment.rest("annotator2")
    first_call, total = third.search(deployment.dataset_id, where(status_is("pending")))
    again, _ = third.search(deployment.dataset_id, where(status_is("pending")))
    page1, _ = third.search(deployment.dataset_id, where(status_is("pending")), limit=10)
    page2, _ = third.search(deployment.dataset_id, where(status_is("pending")), limit=10, offset=10)
    others, _ = second.search(deployment.dataset_id, where())

    assert total == N_RECORDS and set(first_call) == ALL
    assert again == first_call
    assert page1 + page2 == first_call[:20]
    assert set(others) == ALL and others != first_call
    assert first_call != sorted(first_call)  # shuffled, not insertion order


@pytest.mark.parametrize(
    ("user", "status", "expected"),
    [
        ("annotator1", "submitted", {0, 1, 2, 3, 4}),
        ("annotator1", "draft", {5, 6}),
        ("annotator1", "discarded", {7}),
        ("annotator1", "pending", set(range(8, N_RECORDS))),
        ("annotator2", "submitted", {0, 10}),
        ("annotator2", "pending", set(range(N_RECORDS)) - {0, 10}),
        ("annotator3", "submitted", set()),
    ],
)
def test_response_status_filters_are_per_user(deployment: Deployment, user, status, expected):
    found, total = deployment.rest(user).search(deployment.dataset_id, where(status_is(status)))
    assert set(found) == deployment.ids(*expected)
    assert total == len(expected)


def test_several_statuses_and_any_user(deployment: Deployment):
    mine, _ = deployment.rest("annotator1").search(
        deployment.dataset_id, where(status_is("pending", "draft"))
    )
    anyone_pending, _ = deployment.rest("owner").search(
        deployment.dataset_id, where(status_is("pending")), mine=False
    )
    anyone_submitted, _ = deployment.rest("owner").search(
        deployment.dataset_id, where(status_is("submitted")), mine=False
    )
    assert set(mine) == deployment.ids(5, 6, *range(8, N_RECORDS))
    assert set(anyone_pending) == deployment.ids(*(set(range(8, N_RECORDS)) - {10}))
    assert set(anyone_submitted) == deployment.ids(0, 1, 2, 3, 4, 10)


def test_response_values(deployment: Deployment):
    dataset = deployment.dataset_id
    mine, _ = deployment.rest("annotator1").search(
        dataset, where(terms("response", ["1"], question="preference"))
    )
    anyone, _ = deployment.rest("owner").search(
        dataset, where(terms("response", ["2"], question="preference")), mine=False
    )
    assert set(mine) == deployment.ids(1, 2, 3, 4)
    assert set(anyone) == deployment.ids(0, 5, 6, 10)  # annotator2's submissions, annotator1's drafts


def test_metadata_terms_including_list_values_and_ranges(deployment: Deployment):
    rest, dataset = deployment.rest("annotator1"), deployment.dataset_id
    math, _ = rest.search(dataset, where(terms("metadata", ["math"], metadata_property="category")))
    hard, _ = rest.search(dataset, where(terms("metadata", ["hard"], metadata_property="tags")))
    either, _ = rest.search(dataset, where(terms("metadata", ["hard", "long"], metadata_property="tags")))
    margin, _ = rest.search(dataset, where(range_("metadata", ge=1.0, le=1.5, metadata_property="margin")))
    assert set(math) == deployment.ids(*range(0, N_RECORDS, 3))
    assert set(hard) == deployment.ids(*range(0, N_RECORDS, 4))
    assert set(either) == deployment.ids(*(i for i in range(N_RECORDS) if i % 4 == 0 or i % 5 == 0))
    assert set(margin) == deployment.ids(10, 11, 12, 13, 14, 15)


def test_suggestion_value_score_and_agent(deployment: Deployment):
    rest, dataset = deployment.rest("annotator1"), deployment.dataset_id
    two, _ = rest.search(dataset, where(terms("suggestion", ["2"], question="preference", property="value")))
    confident, _ = rest.search(
        dataset, where(range_("suggestion", ge=0.895, question="preference", property="score"))
    )
    judge_b, _ = rest.search(
        dataset, where(terms("suggestion", ["judge-b"], question="preference", property="agent"))
    )
    model, _ = rest.search(
        dataset, where(terms("suggestion", ["model"], question="preference", property="type"))
    )
    assert set(two) == deployment.ids(*range(1, N_RECORDS, 2))
    assert set(confident) == deployment.ids(*range(24, N_RECORDS))
    assert set(judge_b) == deployment.ids(*range(15, N_RECORDS))
    assert model == []  # the SDK logs suggestions without a type


def test_filters_combine_with_and_and_with_the_users_queue(deployment: Deployment):
    body = where(
        status_is("pending"),
        terms("metadata", ["math"], metadata_property="category"),
        terms("suggestion", ["judge-b"], question="preference", property="agent"),
    )
    found, total = deployment.rest("annotator1").search(deployment.dataset_id, body)
    assert set(found) == deployment.ids(15, 18, 21, 24, 27) and total == 5


def test_record_filters(deployment: Deployment):
    rest, dataset = deployment.rest("owner"), deployment.dataset_id
    by_external, _ = rest.search(
        dataset, where(terms("record", ["pair-03", "pair-09"], property="external_id"))
    )
    by_id, _ = rest.search(dataset, where(terms("record", [deployment.record_ids["pair-05"]], property="id")))
    completed, _ = rest.search(dataset, where(terms("record", ["completed"], property="status")))
    everything, _ = rest.search(
        dataset, where(range_("record", ge="2000-01-01T00:00:00Z", property="inserted_at"))
    )
    nothing, _ = rest.search(
        dataset, where(range_("record", le="2000-01-01T00:00:00", property="inserted_at"))
    )
    assert set(by_external) == deployment.ids(3, 9)
    assert by_id == ["pair-05"]
    assert set(completed) == deployment.ids(0, 1, 2, 3, 4, 10)  # one submission completes a record
    assert set(everything) == ALL and nothing == []


def test_sorting(deployment: Deployment):
    rest, dataset = deployment.rest("annotator1"), deployment.dataset_id

    def sort(entity: str, order: str, **scope) -> list[str]:
        return rest.search(dataset, where(sort=[{"scope": {"entity": entity, **scope}, "order": order}]))[0]

    oldest_first = sort("record", "asc", property="inserted_at")
    assert oldest_first == [f"pair-{i:02d}" for i in range(N_RECORDS)]
    assert sort("record", "desc", property="inserted_at") == oldest_first[::-1]
    assert sort("metadata", "desc", metadata_property="margin") == oldest_first[::-1]
    assert sort("suggestion", "desc", question="preference", property="score")[0] == "pair-29"
    by_answer = sort("response", "asc", question="preference")  # annotator1's own answers
    assert set(by_answer[:4]) == deployment.ids(1, 2, 3, 4)  # "1"
    assert set(by_answer[4:6]) == deployment.ids(5, 6) and by_answer[6] == "pair-00"  # "2", "tie"
    by_category = sort("metadata", "asc", metadata_property="category")
    assert by_category[:10] == [f"pair-{i:02d}" for i in range(1, N_RECORDS, 3)]  # "code" first


def test_text_queries(deployment: Deployment):
    rest, dataset = deployment.rest("annotator1"), deployment.dataset_id
    zebra, _ = rest.search(dataset, where(text={"q": "ZEBRA"}))
    in_field, _ = rest.search(dataset, where(text={"q": "zebra", "field": "response1"}))
    both_words, _ = rest.search(dataset, where(text={"q": "question math"}))
    assert zebra == ["pair-17"] and in_field == []
    assert set(both_words) == deployment.ids(*range(0, N_RECORDS, 3))


def test_a_bad_filter_is_refused_with_a_message(deployment: Deployment):
    answer = deployment.rest("annotator1").http.post(
        f"/api/v1/me/datasets/{deployment.dataset_id}/records/search",
        json=where(terms("metadata", ["x"], metadata_property="no-such-property")),
    )
    assert answer.status_code == 422
    assert "no-such-property" in answer.text
