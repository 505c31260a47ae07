"""The local Bento answers like Bento, over a real socket."""

from __future__ import annotations

import socket
import threading
from typing import Any

import pytest
import requests
from urllib3.util import SKIP_HEADER

from bento_ui.emulator import MAX_ERRORS, Emulator, refusal, sandbox
from bento_ui.errors import EmulatorError

UA = {"User-Agent": "tests/1"}
JANE = {"type": "webinar_attended", "email": "jane@example.com"}


def post(
    bento: Emulator,
    payload: Any,
    *,
    auth: tuple[str, str] | None = None,
    query: bool = True,
    headers: dict[str, str] | None = None,
    timeout: float = 5.0,
) -> requests.Response:
    creds = bento.credentials
    kwargs: dict[str, Any] = {"data": payload} if isinstance(payload, bytes) else {"json": payload}
    return requests.post(
        creds.events_url,
        params={"site_uuid": creds.site_uuid} if query else None,
        auth=auth or (creds.publishable_key, creds.secret_key),
        headers={**UA, **(headers or {})},
        timeout=timeout,
        **kwargs,
    )


def fetch_tags(bento: Emulator, **params: str) -> requests.Response:
    creds = bento.credentials
    return requests.get(
        f"{creds.base_url}/fetch/tags",
        params=params or {"site_uuid": creds.site_uuid},
        auth=(creds.publishable_key, creds.secret_key),
        headers=UA,
        timeout=5,
    )


def configure(bento: Emulator, payload: Any) -> requests.Response:
    return requests.post(f"{bento.url}/_emulator/faults", json=payload, timeout=5)


# --- the happy path --------------------------------------------------------------------


def test_records_events_as_received_in_order(emulator: Emulator) -> None:
    first = {**JANE, "fields": {"first_name": "Jane", "vip": True}, "date": "2024-05-01T10:00:00Z"}
    second = {"type": "$purchase", "email": "joe@example.org",
              "details": {"unique": {"key": "o-1"}, "value": {"amount": 1999, "currency": "USD"}}}
    answer = post(emulator, {"events": [first, second]})
    third = post(emulator, {"events": [JANE]})

    assert answer.status_code == 200
    assert answer.json() == {"results": 2, "failed": 0}
    assert third.json() == {"results": 1, "failed": 0}
    assert emulator.events() == [first, second, JANE]
    assert emulator.request_count == 2


def test_events_are_visible_through_the_inspection_api(emulator: Emulator) -> None:
    post(emulator, {"events": [JANE]})
    seen = requests.get(f"{emulator.url}/_emulator/events", timeout=5).json()
    assert seen == {"events": [JANE], "request_count": 1}


def test_site_uuid_may_be_in_the_body(emulator: Emulator) -> None:
    answer = post(emulator, {"site_uuid": emulator.site_uuid, "events": [JANE]}, query=False)
    assert answer.json() == {"results": 1, "failed": 0}
    assert len(emulator.events()) == 1


def test_null_optional_keys_are_accepted(emulator: Emulator) -> None:
    event = {**JANE, "fields": None, "details": None, "date": None}
    assert post(emulator, {"events": [event]}).json() == {"results": 1, "failed": 0}


def test_fetch_tags_checks_keys_without_recording(emulator: Emulator) -> None:
    answer = fetch_tags(emulator)
    assert answer.status_code == 200
    assert answer.json() == {"data": []}
    assert emulator.events() == []
    assert emulator.request_count == 1


# --- auth, user agent, routes ----------------------------------------------------------


@pytest.mark.parametrize("who", ["wrong secret", "wrong publishable", "no auth"])
def test_bad_keys_are_401_plain_text(emulator: Emulator, who: str) -> None:
    creds = emulator.credentials
    auth = {
        "wrong secret": (creds.publishable_key, "sk_nope"),
        "wrong publishable": ("pk_nope", creds.secret_key),
        "no auth": None,
    }[who]
    answer = requests.post(
        creds.events_url, params={"site_uuid": creds.site_uuid}, json={"events": [JANE]},
        auth=auth, headers=UA, timeout=5,
    )
    assert answer.status_code == 401
    assert answer.text == "HTTP Basic: Access denied."
    assert answer.headers["Content-Type"].startswith("text/plain")
    assert emulator.events() == []


def test_missing_or_wrong_site_uuid_is_401(emulator: Emulator) -> None:
    missing = post(emulator, {"events": [JANE]}, query=False)
    wrong_in_body = post(emulator, {"site_uuid": "nope", "events": [JANE]}, query=False)
    creds = emulator.credentials
    wrong_in_query = requests.post(
        creds.events_url, params={"site_uuid": "nope"}, json={"events": [JANE]},
        auth=(creds.publishable_key, creds.secret_key), headers=UA, timeout=5,
    )
    assert [a.status_code for a in (missing, wrong_in_body, wrong_in_query)] == [401, 401, 401]
    assert missing.text == "HTTP Basic: Access denied."
    assert fetch_tags(emulator, site_uuid="nope").status_code == 401
    assert emulator.events() == []


def test_missing_user_agent_is_403_html(emulator: Emulator) -> None:
    # urllib3 adds its own User-Agent unless told to skip it
    answer = post(emulator, {"events": [JANE]}, headers={"User-Agent": SKIP_HEADER})
    assert answer.status_code == 403
    assert answer.headers["Content-Type"].startswith("text/html")
    assert answer.text.lstrip().lower().startswith("<!doctype html")
    assert emulator.events() == []


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/api/v1/batch/nothing"), ("GET", "/api/v1/batch/events"), ("POST", "/api/v1")],
)
def test_unknown_path_under_api_is_404_json(emulator: Emulator, method: str, path: str) -> None:
    creds = emulator.credentials
    answer = requests.request(
        method, emulator.url + path, params={"site_uuid": creds.site_uuid},
        auth=(creds.publishable_key, creds.secret_key), headers=UA, timeout=5,
    )
    assert answer.status_code == 404
    assert answer.json() == {"error": "Not found"}


# --- 400s and the stated choices -------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        (b"{not json", "not valid JSON"),
        (b"", "not valid JSON"),
        ([JANE], "JSON object"),
        ({"event": [JANE]}, '"events" key is missing'),
        ({"events": JANE}, "must be a list"),
        ({"events": []}, "empty"),
        ({"events": [JANE, "jane@example.com"]}, "events[1] must be an object"),
        ({"events": [{"email": "jane@example.com"}]}, 'events[0] has no "type"'),
        ({"events": [{"type": "x"}]}, 'events[0] has no "email"'),
        ({"events": [{"type": "x", "email": 42}]}, "events[0].email must be a string"),
        ({"events": [{"type": 7, "email": "a@b.co"}]}, "events[0].type must be a string"),
        ({"events": [{**JANE, "fields": ["a"]}]}, "events[0].fields must be an object"),
        ({"events": [{**JANE, "details": "x"}]}, "events[0].details must be an object"),
        ({"events": [{**JANE, "date": 1714557600}]}, "events[0].date must be a string"),
    ],
)
def test_structurally_wrong_requests_are_400_and_record_nothing(
    emulator: Emulator, payload: Any, says: str
) -> None:
    answer = post(emulator, payload)
    assert answer.status_code == 400
    assert says in answer.json()["error"]
    assert emulator.events() == []


def test_max_batch() -> None:
    with Emulator(max_batch=3) as bento:
        assert post(bento, {"events": [JANE] * 3}).json() == {"results": 3, "failed": 0}
        too_many = post(bento, {"events": [JANE] * 4})
        assert too_many.status_code == 400
        assert "at most 3" in too_many.json()["error"]
        assert len(bento.events()) == 3


def test_default_max_batch_is_bentos_1000(emulator: Emulator) -> None:
    assert post(emulator, {"events": [JANE] * 1000}).json() == {"results": 1000, "failed": 0}
    assert post(emulator, {"events": [JANE] * 1001}).status_code == 400


@pytest.mark.parametrize(
    "bad",
    [
        {**JANE, "email": "jane"},
        {**JANE, "email": "jane@localhost"},
        {**JANE, "email": "@example.com"},
        {**JANE, "type": "  "},
        {**JANE, "fields": {"address": {"city": "Paris"}}},
        {**JANE, "fields": {"tags": ["a", "b"]}},
        {**JANE, "date": "yesterday"},
        {**JANE, "date": "05/01/2024"},
    ],
)
def test_implausible_events_are_counted_in_failed_not_recorded(
    emulator: Emulator, bad: dict[str, Any]
) -> None:
    good = {**JANE, "date": "2024-05-01T10:00:00+02:00", "fields": {"n": 1, "ok": None}}
    answer = post(emulator, {"events": [good, bad, JANE]})
    assert answer.status_code == 200
    # New meaning: the answer names each refused event (index and reason) in `errors`.
    reason = refusal(bad)
    assert reason and refusal(good) is None and refusal(JANE) is None
    assert answer.json() == {
        "results": 2, "failed": 1, "errors": [{"index": 1, "error": reason}],
    }  # fmt: skip
    assert emulator.events() == [good, JANE]


def test_every_event_refused_is_a_422_with_the_same_body(emulator: Emulator) -> None:
    bad = [{**JANE, "email": "jane"}, {**JANE, "type": " "}]
    answer = post(emulator, {"events": bad})
    # New meaning: when every event is refused the emulator answers 422, not 200.
    assert answer.status_code == 422
    body = answer.json()
    assert (body["results"], body["failed"]) == (0, 2)
    assert [e["index"] for e in body["errors"]] == [0, 1]
    assert emulator.events() == []


def test_errors_name_at_most_20_refused_events(emulator: Emulator) -> None:
    events = [JANE, *({**JANE, "email": f"bad{i}"} for i in range(25))]
    body = post(emulator, {"events": events}).json()
    assert (body["results"], body["failed"]) == (1, 25)
    assert MAX_ERRORS == 20
    assert [e["index"] for e in body["errors"]] == list(range(1, 21))


def test_a_value_without_amount_and_currency_is_a_400(emulator: Emulator) -> None:
    event = {**JANE, "details": {"value": {"currency": "USD"}}}
    answer = post(emulator, {"events": [JANE, event]})
    assert answer.status_code == 400
    assert "details.value must hold amount and currency" in answer.text
    assert emulator.events() == []


# --- faults ----------------------------------------------------------------------------


def test_faults_apply_one_per_request_in_order(emulator: Emulator) -> None:
    emulator.add_faults([{"status": 503}, {"status": 429, "retry_after": 7}, {}])
    answers = [post(emulator, {"events": [JANE]}) for _ in range(4)]
    assert [a.status_code for a in answers] == [503, 429, 200, 200]
    assert answers[1].headers["Retry-After"] == "7"
    assert answers[1].json() == {"error": "Too many requests"}
    assert "Retry-After" not in answers[2].headers
    assert len(emulator.events()) == 2


@pytest.mark.parametrize(
    ("status", "content_type", "check"),
    [
        (400, "application/json", lambda a: "error" in a.json()),
        (401, "text/plain", lambda a: a.text == "HTTP Basic: Access denied."),
        (403, "text/html", lambda a: "<html>" in a.text),
        (404, "application/json", lambda a: a.json() == {"error": "Not found"}),
        (422, "application/json", lambda a: set(a.json()["errors"][0]) == {"field", "message"}),
        (429, "application/json", lambda a: a.json() == {"error": "Too many requests"}),
        (500, "application/json", lambda a: "error" in a.json()),
        (502, "text/html", lambda a: "502 Bad Gateway" in a.text),
        (503, "text/html", lambda a: "503 Service Unavailable" in a.text),
        (504, "text/html", lambda a: "504 Gateway Timeout" in a.text),
    ],
)
def test_status_faults_answer_bento_like_bodies_and_record_nothing(
    emulator: Emulator, status: int, content_type: str, check: Any
) -> None:
    emulator.add_faults([{"status": status}])
    answer = post(emulator, {"events": [JANE]})
    assert answer.status_code == status
    assert answer.headers["Content-Type"].startswith(content_type)
    assert check(answer)
    assert emulator.events() == []


def test_failed_fault_records_all_but_that_many(emulator: Emulator) -> None:
    events = [{**JANE, "email": f"p{i}@example.com"} for i in range(5)]
    emulator.add_faults([{"failed": 2}])
    body = post(emulator, {"events": events}).json()
    # New meaning: the refused ones (the last two) are named in `errors`.
    assert (body["results"], body["failed"]) == (3, 2)
    assert [e["index"] for e in body["errors"]] == [3, 4]
    assert emulator.events() == events[:3]


def test_errors_fault_answers_that_list(emulator: Emulator) -> None:
    events = [{**JANE, "email": f"p{i}@example.com"} for i in range(3)]
    emulator.add_faults([{"failed": 1, "errors": []}])
    body = post(emulator, {"events": events}).json()
    assert (body["results"], body["failed"], body.get("errors", [])) == (2, 1, [])
    with pytest.raises(ValueError, match="errors must be a list"):
        emulator.add_faults([{"errors": "nope"}])


def test_drop_before_body_records_nothing(emulator: Emulator) -> None:
    emulator.add_faults([{"drop": "before_body"}])
    with pytest.raises(requests.ConnectionError):
        post(emulator, {"events": [JANE]})
    assert emulator.events() == []
    assert emulator.request_count == 1


def test_drop_after_body_records_then_closes(emulator: Emulator) -> None:
    emulator.add_faults([{"drop": "after_body"}])
    with pytest.raises(requests.ConnectionError):
        post(emulator, {"events": [JANE]})
    assert emulator.events() == [JANE]


def test_delay_records_first_so_a_timed_out_client_leaves_events_recorded(
    emulator: Emulator,
) -> None:
    emulator.add_faults([{"delay": 2}])
    with pytest.raises(requests.ReadTimeout):
        post(emulator, {"events": [JANE]}, timeout=0.3)
    assert emulator.events() == [JANE]


def test_faults_and_rate_limit_through_http(emulator: Emulator) -> None:
    answer = configure(emulator, {"faults": [{"status": 500}, {}], "rate_limit_per_minute": 5})
    assert answer.json() == {"queued": 2, "rate_limit_per_minute": 5}
    assert post(emulator, {"events": [JANE]}).status_code == 500
    assert configure(emulator, {"rate_limit_per_minute": None}).json() == {
        "queued": 1, "rate_limit_per_minute": None,
    }


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        ({"faults": [{"stauts": 503}]}, "unknown key(s) 'stauts'"),
        ({"faults": [{"status": 200}]}, "400 to 599"),
        ({"faults": [{"drop": "sometimes"}]}, "before_body"),
        ({"faults": [{"drop": "after_body", "status": 500}]}, "cannot both"),
        ({"faults": [{"delay": -1}]}, "delay"),
        ({"faults": [{"failed": 1.5}]}, "failed"),
        ({"faults": [{}, "boom"]}, "faults[1] must be an object"),
        ({"faults": {"status": 503}}, "must be a list"),
        ({"rate_limit_per_minute": 0}, "rate_limit_per_minute"),
        ({"rate_limit": 5}, "Unknown key(s) 'rate_limit'"),
    ],
)
def test_invalid_fault_configuration_is_400_and_changes_nothing(
    emulator: Emulator, payload: Any, says: str
) -> None:
    answer = configure(emulator, payload)
    assert answer.status_code == 400
    assert says in answer.json()["error"]
    assert post(emulator, {"events": [JANE]}).status_code == 200  # no fault was queued


def test_add_faults_rejects_unknown_keys(emulator: Emulator) -> None:
    with pytest.raises(ValueError, match="unknown key"):
        emulator.add_faults([{"status": 503}, {"sleep": 3}])
    assert post(emulator, {"events": [JANE]}).status_code == 200  # not even the first


def test_rate_limit_answers_429_with_retry_after(emulator: Emulator) -> None:
    emulator.set_rate_limit(2)
    answers = [post(emulator, {"events": [JANE]}) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert 1 <= int(answers[2].headers["Retry-After"]) <= 60
    assert answers[2].json() == {"error": "Too many requests"}
    assert len(emulator.events()) == 2
    emulator.set_rate_limit(None)
    assert post(emulator, {"events": [JANE]}).status_code == 200


def test_reset_forgets_events_faults_rate_limit_and_count(emulator: Emulator) -> None:
    post(emulator, {"events": [JANE]})
    emulator.add_faults([{"status": 503}])
    emulator.set_rate_limit(1)
    answer = requests.post(f"{emulator.url}/_emulator/reset", timeout=5)
    assert answer.status_code == 200
    assert emulator.events() == []
    assert emulator.request_count == 0
    assert [post(emulator, {"events": [JANE]}).status_code for _ in range(2)] == [200, 200]
    emulator.reset()
    assert emulator.events() == []


# --- credentials, life cycle, secrecy ---------------------------------------------------


def test_generated_credentials_point_at_the_emulator(emulator: Emulator) -> None:
    creds = emulator.credentials
    assert creds.publishable_key.startswith("pk_")
    assert creds.secret_key.startswith("sk_")
    assert creds.base_url == emulator.base_url == f"{emulator.url}/api/v1"
    assert emulator.url.startswith("http://127.0.0.1:")
    assert creds.secret_key not in repr(emulator)
    other = Emulator(port=0)
    assert other.site_uuid != emulator.site_uuid


def test_given_credentials_are_used() -> None:
    with Emulator(site_uuid="site-1", publishable_key="pk_a", secret_key="sk_b") as bento:
        answer = requests.post(
            bento.credentials.events_url, params={"site_uuid": "site-1"},
            json={"events": [JANE]}, auth=("pk_a", "sk_b"), headers=UA, timeout=5,
        )
        assert answer.json() == {"results": 1, "failed": 0}


def test_server_prints_nothing_not_even_the_authorization_header(
    emulator: Emulator, capfd: pytest.CaptureFixture[str]
) -> None:
    post(emulator, {"events": [JANE]})
    post(emulator, {"events": [JANE]}, auth=("pk_x", "sk_leaky"))
    emulator.add_faults([{"drop": "before_body"}])
    with pytest.raises(requests.ConnectionError):
        post(emulator, {"events": [JANE]})
    out, err = capfd.readouterr()
    assert out == err == ""


def test_stop_frees_the_port() -> None:
    bento = Emulator().start()
    url = bento.url
    bento.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/_emulator/events", timeout=2)
    bento.stop()  # a second stop is harmless


def test_url_before_start_and_busy_port_are_clear_errors() -> None:
    with pytest.raises(EmulatorError, match="start"):
        _ = Emulator().url
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(EmulatorError, match="could not listen"):
            Emulator(port=busy.getsockname()[1]).start()


def test_sandbox_is_one_running_emulator_shared_by_threads() -> None:
    seen: list[Emulator] = []
    threads = [threading.Thread(target=lambda: seen.append(sandbox())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(bento) for bento in seen}) == 1
    assert seen[0].is_running
    assert fetch_tags(seen[0]).status_code == 200
