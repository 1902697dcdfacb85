#!/usr/bin/env python3
"""A stand-in for Elasticsearch's `_bulk` contract, for strom-pipeline's tests. Stdlib only.

    python3 tests/pipeline/es_standin.py --port 0 --port-file F [--user U --password P] [--count-only]
                                         [--tls-cert CERT --tls-key KEY]

Serves:
- GET /                      cluster info, version.number "8.x"
- POST /_bulk, /<index>/_bulk NDJSON `index`/`create` actions; answers as ES does (HTTP 200,
  {"took", "errors", "items": [{"<action>": {"_index", "_id", "_version", "result", "_shards",
  "_seq_no", "_primary_term", "status"}}]}, a failed item carrying "error": {"type", "reason"} instead
  of "result"), items in request order. Shape per the ES reference, "Bulk API" → "Response body"
  (elastic.co/guide/en/elasticsearch/reference/current/docs-bulk.html#bulk-api-response-body).
  `create` of an existing _id → 409 version_conflict_engine_exception, as ES does.
- The read side of Elasticsearch's API a test needs, so that the same test runs against a real
  Elasticsearch: GET /_cat/indices[/<patterns>]?format=json ([{"index", "docs.count"}], counts as
  strings as ES gives them), GET /<patterns>/_search?size=N ({"hits": {"total": {"value",
  "relation"}, "hits": [{"_index", "_id", "_source"}]}}, documents in arrival order, no query DSL),
  POST [/<patterns>]/_refresh (nothing to do here: every document is searchable at once). Patterns
  are comma-separated index names with `*` wildcards.
- Control API for tests:
  POST /_standin/fail    {"status": 429, "count": 5}: the next 5 bulk requests fail whole with 429;
                         {"field": "message", "value": "bad", "status": 400, "count": -1}: items whose
                         source has that (dotted) field value are rejected with that status (count -1:
                         for ever; otherwise that many items);
  POST /_standin/delay   {"ms": 300}: bulk requests are stored at once but answered that much later;
  POST /_standin/reset   forget documents and failure scripts;
  GET  /_standin/docs?index=NAME   {"docs": [...]} stored sources (all indices without `index`);
  GET  /_standin/indices           {"indices": {name: document count}};
  GET  /_standin/requests          {"bulk_requests": N, "tls_failures": M}.
- Basic auth on every non-control path when --user/--password are given (401 otherwise).
- --tls-cert/--tls-key (PEM files): HTTPS only. The handshake runs in the connection's thread, so
  a client that refuses the certificate stalls nobody; failed handshakes are counted
  ("tls_failures" in GET /_standin/requests).
- --count-only (benchmarks): every document is still decoded, but only the count per index is kept
  (no ids, no sources: `create` never conflicts, /_standin/docs answers no documents), so a run of
  millions of documents stays small in memory.
"""

import argparse
import base64
import fnmatch
import json
import os
import ssl
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

ERROR_TYPES = {
    400: "mapper_parsing_exception",
    404: "index_not_found_exception",
    409: "version_conflict_engine_exception",
    429: "es_rejected_execution_exception",
    500: "internal_server_error",
    503: "unavailable_shards_exception",
}


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.indices = {}  # name -> {id: source}
        self.counts = {}  # name -> documents, with --count-only
        self.order = {}  # name -> [id] in arrival order
        self.whole_failures = []  # [{"status", "count"}]
        self.item_failures = []  # [{"field", "value", "status", "count"}]
        self.bulk_requests = 0
        self.tls_failures = 0
        self.delay_ms = 0
        self.seq_no = 0


def dotted_get(source, path):
    value = source
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


class Handler(BaseHTTPRequestHandler):
    server_version = "es-standin/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet
        pass

    @property
    def state(self):
        return self.server.state

    def reply(self, status, body, content_type="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def authorized(self):
        user, password = self.server.credentials
        if user is None:
            return True
        expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        if self.headers.get("Authorization") == expected:
            return True
        self.reply(401, {"error": {"type": "security_exception", "reason": "missing or wrong credentials"}, "status": 401})
        return False

    def do_GET(self):
        url = urlparse(self.path)
        if url.path == "/_standin/docs":
            index = parse_qs(url.query).get("index", [None])[0]
            with self.state.lock:
                names = [index] if index else sorted(self.state.indices)
                docs = [self.state.indices.get(n, {})[i] for n in names for i in self.state.order.get(n, [])]
            return self.reply(200, {"docs": docs})
        if url.path == "/_standin/indices":
            with self.state.lock:
                return self.reply(200, {"indices": {n: self.doc_count(n) for n in self.matching("*")}})
        if url.path == "/_standin/requests":
            with self.state.lock:
                return self.reply(200, {"bulk_requests": self.state.bulk_requests, "tls_failures": self.state.tls_failures})
        if not self.authorized():
            return
        parts = [p for p in url.path.split("/") if p]
        if parts[:2] == ["_cat", "indices"] and len(parts) <= 3:
            with self.state.lock:
                names = self.matching(parts[2] if len(parts) == 3 else "*")
                return self.reply(200, [{"index": n, "docs.count": str(self.doc_count(n))} for n in names])
        if len(parts) == 2 and parts[1] == "_search":
            size = int(parse_qs(url.query).get("size", ["10"])[0])
            with self.state.lock:
                hits = [{"_index": n, "_id": i, "_source": self.state.indices[n][i]} for n in self.matching(parts[0]) for i in self.state.order.get(n, [])]
            return self.reply(200, {"took": 1, "timed_out": False, "hits": {"total": {"value": len(hits), "relation": "eq"}, "hits": hits[:size]}})
        if url.path == "/":
            return self.reply(200, {
                "name": "es-standin", "cluster_name": "standin", "cluster_uuid": "standin-uuid",
                "version": {"number": "8.13.0", "build_flavor": "default", "lucene_version": "9.10.0"},
                "tagline": "You Know, for Search",
            })
        self.reply(404, {"error": {"type": "no_handler", "reason": f"no handler for GET {url.path}"}, "status": 404})

    def do_POST(self):
        url = urlparse(self.path)
        body = self.read_body()
        if url.path in ("/_standin/fail", "/_standin/reset", "/_standin/delay"):
            with self.state.lock:
                if url.path.endswith("delay"):
                    self.state.delay_ms = int(json.loads(body or b"{}").get("ms", 0))
                elif url.path.endswith("reset"):
                    self.state.reset()
                else:
                    script = json.loads(body or b"{}")
                    target = self.state.item_failures if "field" in script else self.state.whole_failures
                    target.append(script)
            return self.reply(200, {"acknowledged": True})
        if not self.authorized():
            return
        parts = [p for p in url.path.split("/") if p]
        if parts and parts[-1] == "_refresh" and len(parts) <= 2:
            return self.reply(200, {"_shards": {"total": 1, "successful": 1, "failed": 0}})
        if parts and parts[-1] == "_bulk" and len(parts) <= 2:
            return self.bulk(parts[0] if len(parts) == 2 else None, body)
        self.reply(404, {"error": {"type": "no_handler", "reason": f"no handler for POST {url.path}"}, "status": 404})

    def matching(self, patterns):
        """The index names matching comma-separated patterns with `*` wildcards, sorted (lock held)."""
        names = set(self.state.indices) | set(self.state.counts)
        return sorted(n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns.split(",")))

    def doc_count(self, name):
        """Documents in index `name`, kept or only counted (lock held)."""
        return len(self.state.indices.get(name, {})) + self.state.counts.get(name, 0)

    def bulk(self, default_index, body):
        started = time.monotonic()
        with self.state.lock:
            self.state.bulk_requests += 1
            for script in self.state.whole_failures:
                if script.get("count", 1) != 0:
                    script["count"] = script.get("count", 1) - 1
                    status = int(script.get("status", 503))
                    return self.reply(status, {"error": {"type": ERROR_TYPES.get(status, "error"), "reason": "scripted failure"}, "status": status})
        if body and not body.endswith(b"\n"):
            return self.reply(400, {"error": {"type": "illegal_argument_exception", "reason": "The bulk request must be terminated by a newline [\\n]"}, "status": 400})
        lines = [l for l in body.split(b"\n") if l.strip()]
        items = []
        i = 0
        with self.state.lock:
            while i < len(lines):
                try:
                    action_line = json.loads(lines[i])
                    (action, meta), = action_line.items()
                    source = json.loads(lines[i + 1])
                except (ValueError, IndexError):
                    return self.reply(400, {"error": {"type": "illegal_argument_exception", "reason": f"Malformed action/metadata line [{i + 1}]"}, "status": 400})
                i += 2
                if action not in ("index", "create"):
                    return self.reply(400, {"error": {"type": "illegal_argument_exception", "reason": f"unsupported action [{action}]"}, "status": 400})
                items.append({action: self.store(action, meta.get("_index") or default_index, meta.get("_id"), source)})
        errors = any("error" in next(iter(item.values())) for item in items)
        # stored, answered late: the window in which a client dying loses the answer
        time.sleep(self.state.delay_ms / 1000.0)
        took = int((time.monotonic() - started) * 1000)
        self.reply(200, {"took": took, "errors": errors, "items": items})

    def store(self, action, index, doc_id, source):
        state = self.state
        if not index:
            return {"_index": None, "_id": doc_id, "status": 400, "error": {"type": "action_request_validation_exception", "reason": "index is missing"}}
        for script in state.item_failures:
            if script.get("count", -1) != 0 and dotted_get(source, script["field"]) == script["value"]:
                if script.get("count", -1) > 0:
                    script["count"] -= 1
                status = int(script.get("status", 400))
                return {"_index": index, "_id": doc_id, "status": status,
                        "error": {"type": ERROR_TYPES.get(status, "error"), "reason": f"scripted rejection of [{script['field']}]"}}
        doc_id = doc_id or uuid.uuid4().hex[:20]
        if self.server.count_only:
            state.counts[index] = state.counts.get(index, 0) + 1
            state.seq_no += 1
            return {"_index": index, "_id": doc_id, "_version": 1, "result": "created",
                    "_shards": {"total": 2, "successful": 1, "failed": 0},
                    "_seq_no": state.seq_no, "_primary_term": 1, "status": 201}
        docs = state.indices.setdefault(index, {})
        order = state.order.setdefault(index, [])
        if doc_id in docs and action == "create":
            return {"_index": index, "_id": doc_id, "status": 409,
                    "error": {"type": "version_conflict_engine_exception", "reason": f"[{doc_id}]: version conflict, document already exists"}}
        result = "updated" if doc_id in docs else "created"
        if doc_id not in docs:
            order.append(doc_id)
        docs[doc_id] = source
        state.seq_no += 1
        return {"_index": index, "_id": doc_id, "_version": 1, "result": result,
                "_shards": {"total": 2, "successful": 1, "failed": 0},
                "_seq_no": state.seq_no, "_primary_term": 1, "status": 201 if result == "created" else 200}


class TlsServer(ThreadingHTTPServer):
    """HTTPS: each accepted connection is wrapped (and its handshake done) in its own thread."""

    def finish_request(self, request, client_address):
        request.settimeout(10)  # a client that never finishes its handshake holds one thread that long
        try:
            conn = self.tls.wrap_socket(request, server_side=True)
            conn.settimeout(None)
        except (ssl.SSLError, OSError):
            with self.state.lock:
                self.state.tls_failures += 1
            return
        try:
            super().finish_request(conn, client_address)
        finally:
            conn.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file", help="write the bound port here once listening")
    parser.add_argument("--user")
    parser.add_argument("--password")
    parser.add_argument("--count-only", action="store_true", help="keep only document counts per index (benchmarks)")
    parser.add_argument("--tls-cert", help="serve HTTPS with this certificate (PEM, with its chain)")
    parser.add_argument("--tls-key", help="the certificate's private key (PEM)")
    args = parser.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    if args.tls_cert:
        server = TlsServer((args.host, args.port), Handler)
        server.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server.tls.load_cert_chain(args.tls_cert, args.tls_key)
    else:
        server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    server.state = State()
    server.credentials = (args.user, args.password)
    server.count_only = args.count_only
    port = server.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(port))
        os.replace(tmp, args.port_file)
    print(f"es-standin listening on {args.host}:{port}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
