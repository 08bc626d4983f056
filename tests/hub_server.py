"""A tiny in-process stand-in for the Hugging Face Hub, for upload/download tests without network.

It implements only what `huggingface_hub` (2.x) sends for `create_repo`, `upload_folder`, `repo_info` and
`hf_hub_download` on model repos: files are always committed inline ("regular" upload mode, base64 in the commit
payload), so no LFS or Xet storage is ever involved. Requests it does not know are answered 404 and recorded in
`FakeHub.unhandled`, so that a test notices when the client starts calling something new.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit


def git_blob_sha1(content: bytes) -> str:
    """The git object id of a blob: what the Hub sends as the `ETag` of a regular (non-LFS) file."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


@dataclass
class Repo:
    """A model repo: every commit's full file tree (path → bytes), oldest first, and `main` pointing at the last."""

    repo_id: str
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)
    head: str = ""

    def __post_init__(self) -> None:
        # A new Hub repo already has one commit (the real one adds `.gitattributes`; this one is empty).
        self.commit({}, "initial commit")

    @property
    def files(self) -> dict[str, bytes]:
        return self.commits[self.head]

    def commit(self, files: dict[str, bytes], message: str) -> str:
        listing = "".join(f"{path}\0{git_blob_sha1(data)}\n" for path, data in sorted(files.items()))
        sha = hashlib.sha1(f"{self.head}\n{message}\n{listing}".encode()).hexdigest()
        self.commits[sha] = files
        self.messages[sha] = message
        self.head = sha
        return sha

    def resolve(self, revision: str) -> str | None:
        """Commit sha for `main` or a known full commit sha; None for anything else."""
        if revision == "main":
            return self.head
        return revision if revision in self.commits else None


class _HubError(Exception):
    """An error response, with the `X-Error-Code` header that `hf_raise_for_status` maps to an exception class."""

    def __init__(self, status: HTTPStatus, message: str, code: str | None = None, commit: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.commit = status, code, commit


class FakeHub:
    """
    Start with `with FakeHub(token="…") as hub:` and point `HF_ENDPOINT` at `hub.endpoint`. Writes need
    `Authorization: Bearer <token>` (so a test sees whether the token really reaches the Hub); reads are public.
    """

    def __init__(self, token: str = "test-token") -> None:
        self.token = token
        self.repos: dict[str, Repo] = {}
        self.requests: list[str] = []  # "METHOD /path", in arrival order
        self.unhandled: list[str] = []
        self.lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        # A short poll interval keeps `shutdown()` (at every test teardown) fast.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-hub", daemon=True
        )

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeHub:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # ------------------------------------------------------------------ API, called with `self.lock` held

    def _repo(self, repo_id: str) -> Repo:
        if repo_id not in self.repos:
            raise _HubError(HTTPStatus.NOT_FOUND, f"Repository {repo_id} not found", "RepoNotFound")
        return self.repos[repo_id]

    def _revision(self, repo: Repo, revision: str) -> str:
        sha = repo.resolve(revision)
        if sha is None:
            raise _HubError(HTTPStatus.NOT_FOUND, f"Invalid rev id: {revision}", "RevisionNotFound")
        return sha

    def create_repo(self, payload: dict[str, Any]) -> tuple[HTTPStatus, dict[str, Any]]:
        if payload.get("type", "model") != "model":
            raise _HubError(HTTPStatus.BAD_REQUEST, "Only model repos are supported by this test server")
        repo_id = f"{payload['organization']}/{payload['name']}" if payload.get("organization") else payload["name"]
        url = f"{self.endpoint}/{repo_id}"
        if repo_id in self.repos:  # `create_repo(exist_ok=True)` treats 409 as success
            return HTTPStatus.CONFLICT, {"error": "You already created this model repo", "url": url}
        self.repos[repo_id] = Repo(repo_id)
        return HTTPStatus.OK, {"url": url, "name": repo_id, "id": repo_id}

    def preupload(self, repo_id: str, revision: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Every file goes inline in the commit: no LFS batch or Xet token request follows a "regular" answer."""
        repo = self._repo(repo_id)
        files = repo.commits[self._revision(repo, revision)]
        return {
            "files": [
                {
                    "path": item["path"],
                    "uploadMode": "regular",
                    "shouldIgnore": False,
                    "oid": git_blob_sha1(files[item["path"]]) if item["path"] in files else None,
                }
                for item in payload["files"]
            ]
        }

    def commit(self, repo_id: str, revision: str, lines: list[dict[str, Any]]) -> dict[str, Any]:
        """Apply an NDJSON commit: a `header` line, then `file` (base64 content) and `deletedFile` lines."""
        repo = self._repo(repo_id)
        if revision != "main":
            raise _HubError(HTTPStatus.BAD_REQUEST, "This test server only commits to main")
        if not lines or lines[0].get("key") != "header":
            raise _HubError(HTTPStatus.BAD_REQUEST, "The commit payload must start with a header line")
        header = lines[0]["value"]
        parent = header.get("parentCommit")
        if parent is not None and parent != repo.head:
            raise _HubError(
                HTTPStatus.PRECONDITION_FAILED, "A commit has happened since. Please refresh and try again."
            )
        files = dict(repo.files)
        for line in lines[1:]:
            key, value = line.get("key"), line.get("value", {})
            if key == "file" and value.get("encoding") == "base64":
                files[value["path"]] = base64.b64decode(value["content"], validate=True)
            elif key == "deletedFile":
                files.pop(value["path"], None)
            else:  # `lfsFile` included: preupload never asked for LFS, so its bytes were never uploaded
                raise _HubError(HTTPStatus.BAD_REQUEST, f"Unsupported commit operation {key!r}")
        sha = repo.commit(files, header.get("summary", ""))
        return {"success": True, "commitOid": sha, "commitUrl": f"{self.endpoint}/{repo_id}/commit/{sha}"}

    def model_info(self, repo_id: str, revision: str) -> dict[str, Any]:
        repo = self._repo(repo_id)
        sha = self._revision(repo, revision)
        siblings = [
            {"rfilename": path, "size": len(data), "blobId": git_blob_sha1(data)}
            for path, data in sorted(repo.commits[sha].items())
        ]
        return {"id": repo_id, "modelId": repo_id, "sha": sha, "private": False, "siblings": siblings}

    def resolve_file(self, repo_id: str, revision: str, path: str) -> tuple[str, bytes]:
        repo = self._repo(repo_id)
        sha = self._revision(repo, revision)
        if path not in repo.commits[sha]:
            # `X-Repo-Commit` lets huggingface_hub cache the file's absence (`.no_exist/<sha>/<path>`).
            raise _HubError(HTTPStatus.NOT_FOUND, f"Entry not found: {path}", "EntryNotFound", commit=sha)
        return sha, repo.commits[sha][path]


def _split_repo_path(path: str, marker: str) -> tuple[str, str, str] | None:
    """`{ns}/{name}/{marker}/{revision}/{rest}` → (repo_id, revision, rest), URL-decoded; None if not that shape."""
    parts = path.split("/")
    if len(parts) < 4 or parts[2] != marker:
        return None
    return f"{parts[0]}/{parts[1]}", unquote(parts[3]), unquote("/".join(parts[4:]))


def _make_handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.1 keep-alive, as the real Hub; every response below carries a Content-Length.
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Keep test output clean: the request log is `hub.requests`."""

        def do_HEAD(self) -> None:
            self._dispatch(send_body=False)

        def do_GET(self) -> None:
            self._dispatch()

        def do_POST(self) -> None:
            self._dispatch()

        def _dispatch(self, send_body: bool = True) -> None:
            path = urlsplit(self.path).path
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with hub.lock:
                hub.requests.append(f"{self.command} {path}")
                try:
                    self._route(path, body, send_body)
                except _HubError as error:
                    headers = {"X-Error-Message": str(error)}
                    if error.code:
                        headers["X-Error-Code"] = error.code
                    if error.commit:
                        headers["X-Repo-Commit"] = error.commit
                    self._send_json(error.status, {"error": str(error)}, headers, send_body)

        def _route(self, path: str, body: bytes, send_body: bool) -> None:
            method = self.command
            if method == "POST" and path == "/api/repos/create":
                self._check_token()
                status, payload = hub.create_repo(json.loads(body))
                return self._send_json(status, payload)
            if method == "POST" and path == "/api/validate-yaml":
                # Model-card metadata check before a README.md upload: accept any YAML front matter.
                return self._send_json(HTTPStatus.OK, {"errors": [], "warnings": []})
            if path.startswith("/api/models/"):
                api_path = path.removeprefix("/api/models/")
                if method == "POST" and (parts := _split_repo_path(api_path, "preupload")):
                    self._check_token()
                    return self._send_json(HTTPStatus.OK, hub.preupload(parts[0], parts[1], json.loads(body)))
                if method == "POST" and (parts := _split_repo_path(api_path, "commit")):
                    self._check_token()
                    lines = [json.loads(line) for line in body.splitlines() if line.strip()]
                    return self._send_json(HTTPStatus.OK, hub.commit(parts[0], parts[1], lines))
                if method == "GET" and (parts := _split_repo_path(api_path, "revision")):
                    return self._send_json(HTTPStatus.OK, hub.model_info(parts[0], parts[1]))
                if method == "GET" and api_path.count("/") == 1:
                    return self._send_json(HTTPStatus.OK, hub.model_info(api_path, "main"))
            if method in ("GET", "HEAD") and (parts := _split_repo_path(path.removeprefix("/"), "resolve")):
                sha, content = hub.resolve_file(*parts)
                headers = {"X-Repo-Commit": sha, "ETag": f'"{git_blob_sha1(content)}"'}
                return self._send(HTTPStatus.OK, content, "application/octet-stream", headers, send_body)
            hub.unhandled.append(f"{method} {path}")
            raise _HubError(HTTPStatus.NOT_FOUND, f"Not served by the test Hub: {method} {path}")

        def _check_token(self) -> None:
            if self.headers.get("Authorization") != f"Bearer {hub.token}":
                raise _HubError(HTTPStatus.UNAUTHORIZED, "Invalid credentials in Authorization header")

        def _send_json(
            self,
            status: HTTPStatus,
            payload: dict[str, Any],
            headers: dict[str, str] | None = None,
            send_body: bool = True,
        ) -> None:
            self._send(status, json.dumps(payload).encode(), "application/json", headers or {}, send_body)

        def _send(
            self, status: HTTPStatus, body: bytes, content_type: str, headers: dict[str, str], send_body: bool = True
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            if send_body:
                self.wfile.write(body)

    return Handler
