"""The ES stand-in's contract, driven with urllib: what strom-pipeline's bulk sink will rely on."""

import base64
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


def start(tmp_path, *extra):
    port_file = tmp_path / "port"
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "es_standin.py"), "--port", "0", "--port-file", str(port_file), *extra],
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not port_file.exists():
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise RuntimeError("es_standin did not start")
        time.sleep(0.05)
    return proc, f"http://127.0.0.1:{port_file.read_text()}"


@pytest.fixture
def es(tmp_path):
    proc, base = start(tmp_path)
    yield base
    proc.terminate()
    proc.wait(timeout=10)


def call(method, url, body=None, headers=None):
    data = body.encode() if isinstance(body, str) else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def ndjson(*pairs):
    return "".join(json.dumps(a) + "\n" + json.dumps(d) + "\n" for a, d in pairs)


NDJSON = {"Content-Type": "application/x-ndjson"}


def check_item_shape(item):
    """One bulk response item as ES writes it: {action: {_index, _id, status, result|error}}."""
    assert len(item) == 1
    (action, body), = item.items()
    assert action in ("index", "create")
    assert {"_index", "_id", "status"} <= body.keys()
    if 200 <= body["status"] < 300:
        assert body.get("result") in ("created", "updated") and "error" not in body
        assert {"_version", "_shards", "_seq_no", "_primary_term"} <= body.keys()
    else:
        assert "result" not in body and {"type", "reason"} <= body["error"].keys()


def test_cluster_info(es):
    status, info = call("GET", es + "/")
    assert status == 200 and info["version"]["number"].startswith("8.")


def test_bulk_stores_in_order_and_answers_in_es_shape(es):
    body = ndjson(({"index": {"_index": "nginx_access-2024.01.02"}}, {"message": "a"}),
                  ({"create": {"_index": "nginx_error-2024.01.02", "_id": "e1"}}, {"message": "b"}),
                  ({"index": {}}, {"message": "c"}))
    status, answer = call("POST", es + "/nginx_access-2024.01.02/_bulk", body, NDJSON)
    assert status == 200
    assert set(answer) == {"took", "errors", "items"} and answer["errors"] is False
    assert [next(iter(i)) for i in answer["items"]] == ["index", "create", "index"]
    for item in answer["items"]:
        check_item_shape(item)
    assert answer["items"][1]["create"]["_id"] == "e1"
    assert answer["items"][2]["index"]["_index"] == "nginx_access-2024.01.02"
    _, docs = call("GET", es + "/_standin/docs?index=nginx_access-2024.01.02")
    assert docs["docs"] == [{"message": "a"}, {"message": "c"}]
    # create of an existing id is a 409, as in ES.
    status, answer = call("POST", es + "/_bulk", ndjson(({"create": {"_index": "nginx_error-2024.01.02", "_id": "e1"}}, {"message": "b"})), NDJSON)
    assert status == 200 and answer["errors"] is True
    assert answer["items"][0]["create"]["status"] == 409
    check_item_shape(answer["items"][0])


def test_the_read_api_answers_as_elasticsearch_does(es):
    """_refresh, _cat/indices?format=json and _search: what the real-pod pipeline test reads, in the
    shapes Elasticsearch gives (counts as strings, hits.total as an object), patterns and size."""
    body = ndjson(({"index": {"_index": "nginx_access-2024.01.02"}}, {"message": "a"}),
                  ({"index": {"_index": "nginx_access-2024.01.03"}}, {"message": "b"}),
                  ({"index": {"_index": "nginx_access-2024.01.03"}}, {"message": "c"}),
                  ({"index": {"_index": "nginx_error-2024.01.02"}}, {"message": "d"}))
    assert call("POST", es + "/_bulk", body, NDJSON)[0] == 200
    status, answer = call("POST", es + "/nginx_access-*/_refresh")
    assert status == 200 and answer["_shards"]["failed"] == 0
    assert call("POST", es + "/_refresh")[0] == 200
    status, rows = call("GET", es + "/_cat/indices?format=json")
    assert status == 200
    assert rows == [{"index": "nginx_access-2024.01.02", "docs.count": "1"}, {"index": "nginx_access-2024.01.03", "docs.count": "2"},
                    {"index": "nginx_error-2024.01.02", "docs.count": "1"}]
    _, rows = call("GET", es + "/_cat/indices/nginx_error-*,nginx_access-2024.01.02?format=json")
    assert [r["index"] for r in rows] == ["nginx_access-2024.01.02", "nginx_error-2024.01.02"]
    assert call("GET", es + "/_cat/indices/nothing-*?format=json") == (200, [])
    status, found = call("GET", es + "/nginx_access-*/_search?size=10")
    assert status == 200 and found["hits"]["total"] == {"value": 3, "relation": "eq"}
    assert [(h["_index"], h["_source"]["message"]) for h in found["hits"]["hits"]] == [
        ("nginx_access-2024.01.02", "a"), ("nginx_access-2024.01.03", "b"), ("nginx_access-2024.01.03", "c")]
    assert all(h["_id"] for h in found["hits"]["hits"])
    # size cuts the hits, not the total
    _, found = call("GET", es + "/nginx_access-*,nginx_error-*/_search?size=1")
    assert found["hits"]["total"]["value"] == 4 and len(found["hits"]["hits"]) == 1


def test_scripted_whole_request_failures(es):
    call("POST", es + "/_standin/fail", {"status": 429, "count": 2})
    body = ndjson(({"index": {"_index": "i"}}, {"n": 1}))
    assert call("POST", es + "/_bulk", body, NDJSON)[0] == 429
    assert call("POST", es + "/_bulk", body, NDJSON)[0] == 429
    status, answer = call("POST", es + "/_bulk", body, NDJSON)
    assert status == 200 and answer["errors"] is False
    assert call("GET", es + "/_standin/requests")[1] == {"bulk_requests": 3, "tls_failures": 0}


def test_scripted_item_rejections(es):
    call("POST", es + "/_standin/fail", {"field": "log.level", "value": "bad", "status": 400, "count": -1})
    body = ndjson(({"index": {"_index": "i"}}, {"log": {"level": "ok"}}),
                  ({"index": {"_index": "i"}}, {"log": {"level": "bad"}}),
                  ({"index": {"_index": "i"}}, {"log": {"level": "bad"}}))
    status, answer = call("POST", es + "/_bulk", body, NDJSON)
    assert status == 200 and answer["errors"] is True
    assert [i["index"]["status"] for i in answer["items"]] == [201, 400, 400]
    for item in answer["items"]:
        check_item_shape(item)
    assert answer["items"][1]["index"]["error"]["type"] == "mapper_parsing_exception"
    assert len(call("GET", es + "/_standin/docs?index=i")[1]["docs"]) == 1
    call("POST", es + "/_standin/reset", {})
    assert call("GET", es + "/_standin/docs")[1]["docs"] == []


def test_malformed_bodies_are_400(es):
    assert call("POST", es + "/_bulk", '{"index":{"_index":"i"}}\n{"n":1}', NDJSON)[0] == 400  # no final newline
    assert call("POST", es + "/_bulk", '{"index":{"_index":"i"}}\n', NDJSON)[0] == 400  # no source line
    assert call("POST", es + "/_bulk", ndjson(({"delete": {"_index": "i", "_id": "1"}}, {})), NDJSON)[0] == 400


def test_basic_auth(tmp_path):
    proc, base = start(tmp_path, "--user", "elastic", "--password", "changeme")
    try:
        assert call("GET", base + "/")[0] == 401
        good = {"Authorization": "Basic " + base64.b64encode(b"elastic:changeme").decode()}
        assert call("GET", base + "/", headers=good)[0] == 200
        body = ndjson(({"index": {"_index": "i"}}, {"n": 1}))
        assert call("POST", base + "/_bulk", body, {**NDJSON, **good})[0] == 200
        assert call("POST", base + "/_bulk", body, NDJSON)[0] == 401
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_count_only_counts_without_keeping_documents(tmp_path):
    """--count-only (the pipeline benchmark's): ES-shaped answers, counts per index, no sources kept."""
    proc, base = start(tmp_path, "--count-only")
    try:
        body = ndjson(({"index": {"_index": "a"}}, {"n": 1}), ({"create": {"_index": "a", "_id": "x"}}, {"n": 2}),
                      ({"index": {"_index": "b"}}, {"n": 3}))
        status, answer = call("POST", base + "/_bulk", body, NDJSON)
        assert status == 200 and answer["errors"] is False
        for item in answer["items"]:
            check_item_shape(item)
        assert call("POST", base + "/_bulk", '{"index":{"_index":"a"}}\n', NDJSON)[0] == 400  # still decoded
        assert call("GET", base + "/_standin/indices")[1] == {"indices": {"a": 2, "b": 1}}
        assert call("GET", base + "/_standin/docs")[1] == {"docs": []}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_shape_checker_rejects_wrong_shapes():
    """The shape check itself must fail on answers ES would not give."""
    with pytest.raises(AssertionError):
        check_item_shape({"index": {"_index": "i", "_id": "1", "status": 201}})  # no result
    with pytest.raises(AssertionError):
        check_item_shape({"index": {"_index": "i", "_id": "1", "status": 400, "result": "created", "error": {"type": "t", "reason": "r"}}})
    with pytest.raises(AssertionError):
        check_item_shape({"_index": "i", "_id": "1", "status": 201, "result": "created"})  # not wrapped in the action


def test_https_with_a_certificate_from_a_test_ca(tmp_path):
    """--tls-cert/--tls-key: HTTPS that a client trusting the CA talks to; a client that does not
    trust it fails its handshake, which is counted, and the server goes on serving."""
    import ssl
    from certs import make_ca, make_server_cert
    ca = make_ca(tmp_path, "ca")
    cert, key = make_server_cert(tmp_path, "es", ca)
    proc, base = start(tmp_path, "--tls-cert", str(cert), "--tls-key", str(key))
    try:
        url = base.replace("http://", "https://")
        trusting = ssl.create_default_context(cafile=str(ca[0]))
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            urllib.request.urlopen(url + "/", timeout=10, context=ssl.create_default_context())
        with urllib.request.urlopen(url + "/", timeout=10, context=trusting) as r:
            assert json.loads(r.read())["version"]["number"].startswith("8.")
        with urllib.request.urlopen(url + "/_standin/requests", timeout=10, context=trusting) as r:
            assert json.loads(r.read())["tls_failures"] == 1
    finally:
        proc.terminate()
        proc.wait(timeout=10)
