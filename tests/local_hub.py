"""A local stand-in for the Hugging Face Hub: the part of its HTTP API that the real `huggingface_hub` client (the
version pinned in constraints.txt) calls to create a repo and upload to it, with every uploaded file kept on disk
so a test can compare it byte for byte with what was pushed. No network: one ThreadingHTTPServer on 127.0.0.1.

What it answers (read from the client's source: hf_api.py, _commit_api.py, lfs.py):
- `POST /api/repos/create`: a new repo (200 with its URL; a bare name goes to the token owner's namespace, `user`),
  or 409 when it exists (the client's `exist_ok`).
- `POST /api/validate-yaml`: a README.md's metadata, always valid.
- `POST /api/{type}s/{id}/preupload/{rev}`: per file, "lfs" (binary or over 10 MB, as the Hub decides) or "regular".
- `POST /{prefix}{id}.git/info/lfs/objects/batch`: the basic LFS transfer, an upload URL and a verify URL per
  object not stored yet.
- `PUT /lfs-upload/{oid}?X-Amz-Signature=…`: the object itself (like a presigned S3 URL: no Authorization header,
  a signature in the URL instead); refused unless its sha256 is the oid.
- `POST /{prefix}{id}.git/info/lfs/objects/verify`: the object arrived whole.
- `POST /api/{type}s/{id}/commit/{rev}`: the ndjson commit: base64 `file`s, `lfsFile`s naming uploaded objects,
  `deletedFile`s.
- `GET /api/{type}s/{id}/tree/{rev}[/path]`: what a repo holds (datasets reads it before its commit).
Xet storage is not spoken: point the client here with `HF_HUB_DISABLE_XET=1` (see `env` and `use_in_process`).

Every other request is a 404, and every request but the LFS PUT needs `Authorization: Bearer <token>`. A wrong or
missing token gets a 401 that, like a careless proxy, echoes the credentials it was sent (in the body and in
X-Error-Message): what the security test needs to prove that the user only ever sees the token masked.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.server
import json
import re
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from tests.local_http import serving_with

LFS_OVER = 10 * 1024 * 1024  # the Hub stores text over 10 MB in LFS too
PREFIXES = {"model": "", "dataset": "datasets/", "space": "spaces/"}
_REPO = r"(?P<repo>[^/]+/[^/]+)"
_ROUTES = [  # (method, pattern, handler name)
    ("POST", re.compile(r"/api/repos/create"), "create_repo"),
    ("POST", re.compile(r"/api/validate-yaml"), "validate_yaml"),
    ("POST", re.compile(rf"/api/(?P<type>models|datasets|spaces)/{_REPO}/preupload/(?P<rev>[^/]+)"), "preupload"),
    ("POST", re.compile(rf"/api/(?P<type>models|datasets|spaces)/{_REPO}/commit/(?P<rev>[^/]+)"), "commit"),
    ("GET", re.compile(rf"/api/(?P<type>models|datasets|spaces)/{_REPO}/tree/(?P<rev>[^/]+)(?P<path>/.*)?"), "tree"),
    ("POST", re.compile(rf"/(?P<prefix>datasets/|spaces/)?{_REPO}\.git/info/lfs/objects/batch"), "lfs_batch"),
    ("POST", re.compile(rf"/(?P<prefix>datasets/|spaces/)?{_REPO}\.git/info/lfs/objects/verify"), "lfs_verify"),
    ("PUT", re.compile(r"/lfs-upload/(?P<oid>[0-9a-f]{64})"), "lfs_upload"),
]


class HubError(Exception):
    """An HTTP error answer: status, message (the client shows it), X-Error-Code, more fields for the body."""

    def __init__(self, status: int, message: str, code: str = "", **body: object) -> None:
        super().__init__(message)
        self.status, self.code, self.body = status, code, body


@dataclass
class Repo:
    """One repo: its visibility, its files (path → sha256 of the content, stored under blobs/) and its commits."""

    repo_type: str
    repo_id: str
    private: bool
    files: dict[str, str] = field(default_factory=dict)
    commits: list[str] = field(default_factory=list)


class LocalHub:
    """The Hub's state: repos, stored objects (`root/blobs/<sha256>`), and the Authorization headers seen."""

    def __init__(self, root: Path, token: str | None, user: str = "someone") -> None:
        self.root, self.token, self.user = Path(root), token, user
        self.blobs = self.root / "blobs"
        self.blobs.mkdir(parents=True, exist_ok=True)
        self.url = ""
        self.repos: dict[tuple[str, str], Repo] = {}
        self.seen_auth: list[str] = []
        self.requests: list[str] = []  # "METHOD /path", in order
        self.signature = secrets.token_hex(8)
        self.lock = threading.Lock()

    # -- what tests read

    def repo(self, repo_type: str, repo_id: str) -> Repo:
        return self.repos[(repo_type, repo_id)]

    def file(self, repo_type: str, repo_id: str, path_in_repo: str) -> Path:
        """Where the stored content of a pushed file is (to compare with the original)."""
        return self.blobs / self.repo(repo_type, repo_id).files[path_in_repo]

    def env(self, token: str) -> dict[str, str]:
        """Environment variables that point a `huggingface_hub` (and `datasets`) process at this Hub."""
        return {"HF_ENDPOINT": self.url, "HF_HUB_OFFLINE": "0", "HF_HUB_DISABLE_XET": "1", "HF_TOKEN": token,
                "HF_HUB_ETAG_TIMEOUT": "5", "HF_HUB_DOWNLOAD_TIMEOUT": "10"}

    def use_in_process(self, monkeypatch: pytest.MonkeyPatch, token: str) -> None:
        """Point this process's `huggingface_hub` here: the environment, and the module constants it computed
        from the environment when it was imported (conftest had set HF_HUB_OFFLINE=1 by then)."""
        from huggingface_hub import constants

        for name, value in self.env(token).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr(constants, "ENDPOINT", self.url)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)

    # -- the API

    def _repo(self, kind: str, repo_id: str) -> Repo:
        repo = self.repos.get((kind, repo_id))
        if repo is None:
            raise HubError(404, f"Repository Not Found for url: {kind}s/{repo_id}", "RepoNotFound")
        return repo

    def _url(self, repo: Repo) -> str:
        return f"{self.url}/{PREFIXES[repo.repo_type]}{repo.repo_id}"

    def create_repo(self, body: dict, **_: str) -> dict:
        kind = body.get("type") or "model"
        repo_id = f"{body.get('organization') or self.user}/{body['name']}"
        if kind not in PREFIXES or "/" not in repo_id:
            raise HubError(400, f"bad repo: {kind} {repo_id}")
        if (kind, repo_id) in self.repos:  # the Hub names the repo in its 409: `exist_ok` reads the URL from it
            raise HubError(409, "You already created this repo", "RepoExists", url=self._url(self.repos[kind, repo_id]))
        repo = Repo(kind, repo_id, private=body.get("visibility") == "private" or body.get("private") is True)
        self.repos[(kind, repo_id)] = repo
        return {"url": self._url(repo), "name": repo_id}

    def validate_yaml(self, body: dict, **_: str) -> dict:
        return {"errors": [], "warnings": []}

    def preupload(self, body: dict, type: str, repo: str, rev: str) -> dict:
        self._repo(type[:-1], repo)
        files = []
        for f in body["files"]:
            sample = base64.b64decode(f["sample"])
            lfs = f["size"] > LFS_OVER or b"\0" in sample
            files.append({"path": f["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False,
                          "oid": None})
        return {"files": files, "commitOid": "0" * 40}

    def lfs_batch(self, body: dict, repo: str, prefix: str | None = None) -> dict:
        kind = {"datasets/": "dataset", "spaces/": "space"}.get(prefix or "", "model")
        self._repo(kind, repo)
        if body.get("operation") != "upload" or "basic" not in body.get("transfers", ["basic"]):
            raise HubError(400, "only basic LFS uploads here")
        objects = []
        for obj in body["objects"]:
            oid, size = obj["oid"], obj["size"]
            entry: dict = {"oid": oid, "size": size}
            if not (self.blobs / oid).is_file():
                entry["actions"] = {
                    "upload": {"href": f"{self.url}/lfs-upload/{oid}?X-Amz-Signature={self.signature}"},
                    "verify": {"href": f"{self.url}/{prefix or ''}{repo}.git/info/lfs/objects/verify"}}
            objects.append(entry)
        return {"transfer": "basic", "objects": objects, "hash_algo": "sha256"}

    def lfs_verify(self, body: dict, repo: str, prefix: str | None = None) -> dict:
        blob = self.blobs / str(body.get("oid"))
        if not blob.is_file() or blob.stat().st_size != body.get("size"):
            raise HubError(404, f"object {body.get('oid')} was not uploaded whole")
        return {}

    def store(self, data: bytes, oid: str | None = None) -> str:
        digest = hashlib.sha256(data).hexdigest()
        if oid is not None and digest != oid:
            raise HubError(400, f"content does not match its oid {oid}")
        (self.blobs / digest).write_bytes(data)
        return digest

    def commit(self, lines: list[dict], type: str, repo: str, rev: str) -> dict:
        target = self._repo(type[:-1], repo)
        if rev != "main":
            raise HubError(404, f"no branch {rev}", "RevisionNotFound")
        if not lines or lines[0].get("key") != "header" or not lines[0]["value"].get("summary"):
            raise HubError(400, "a commit starts with a header that has a summary")
        changes: dict[str, str | None] = {}
        for line in lines[1:]:
            key, value = line["key"], line["value"]
            if key == "file":
                if value.get("encoding") != "base64":
                    raise HubError(400, "file content must be base64")
                changes[value["path"]] = self.store(base64.b64decode(value["content"]))
            elif key == "lfsFile":
                if not (self.blobs / value["oid"]).is_file():
                    raise HubError(422, f"LFS object {value['oid']} of {value['path']} was never uploaded")
                changes[value["path"]] = value["oid"]
            elif key == "deletedFile":
                changes[value["path"]] = None
            else:
                raise HubError(400, f"this stand-in does not take {key!r} in a commit")
        for path, digest in changes.items():
            if digest is None:
                target.files.pop(path, None)
            else:
                target.files[path] = digest
        oid = hashlib.sha1(json.dumps(lines, sort_keys=True).encode()).hexdigest()
        target.commits.append(oid)
        return {"commitUrl": f"{self._url(target)}/commit/{oid}", "commitOid": oid, "pullRequestUrl": None}

    def tree(self, query: dict, type: str, repo: str, rev: str, path: str | None = None) -> list[dict]:
        target = self._repo(type[:-1], repo)
        under = unquote(path or "").strip("/")
        recursive = query.get("recursive", ["False"])[0].lower() == "true"
        entries: dict[str, dict] = {}
        for name, digest in sorted(target.files.items()):
            if under and not name.startswith(under + "/"):
                continue
            rest = name[len(under) + 1:] if under else name
            if "/" in rest and not recursive:
                folder = f"{under}/{rest.split('/')[0]}" if under else rest.split("/")[0]
                entries[folder] = {"type": "directory", "path": folder, "oid": "0" * 40}
                continue
            size = (self.blobs / digest).stat().st_size
            entries[name] = {"type": "file", "path": name, "size": size, "oid": digest[:40],
                             "lfs": {"oid": digest, "size": size, "pointerSize": 134}}
        return list(entries.values())


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the client expects; every answer has a Content-Length
    hub: LocalHub

    def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
        pass

    def _body(self) -> bytes:
        """The request body, sent with a Content-Length or chunked (httpx streams a file that way)."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline().strip():  # trailers
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _answer(self, status: int, payload: object, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":  # a HEAD answer has the headers only, or the next request reads the body
            self.wfile.write(body)

    def _serve(self) -> None:
        hub = self.hub
        body = self._body()
        url = urlsplit(self.path)
        with hub.lock:
            hub.requests.append(f"{self.command} {url.path}")
        try:
            route = next(((name, m) for method, pattern, name in _ROUTES
                          if method == self.command and (m := pattern.fullmatch(url.path))), None)
            if route is None:
                raise HubError(404, f"this stand-in Hub has no {self.command} {url.path}")
            name, match = route
            args = {k: v for k, v in match.groupdict().items() if v is not None}
            if name == "lfs_upload":  # a presigned URL: the signature, not a token
                if parse_qs(url.query).get("X-Amz-Signature") != [hub.signature]:
                    raise HubError(403, "bad signature")
                with hub.lock:
                    hub.store(body, args["oid"])
                self._answer(200, {})
                return
            auth = self.headers.get("Authorization", "")
            with hub.lock:
                hub.seen_auth.append(auth)
            if hub.token is None or auth != f"Bearer {hub.token}":
                self._answer(401, {"error": f"Invalid credentials in Authorization header ({auth})"},
                             {"X-Error-Message": f"Invalid credentials ({auth})"})
                return
            if name == "commit":
                payload: object = [json.loads(line) for line in body.splitlines() if line.strip()]
            elif name == "tree":
                payload = parse_qs(url.query)
            else:
                payload = json.loads(body or b"{}")
            with hub.lock:
                answer = getattr(hub, name)(payload, **args)
            self._answer(200, answer)
        except HubError as err:
            headers = {"X-Error-Message": str(err), **({"X-Error-Code": err.code} if err.code else {})}
            self._answer(err.status, {"error": str(err), **err.body}, headers)
        except (KeyError, TypeError, ValueError) as err:
            self._answer(400, {"error": f"malformed request: {type(err).__name__}: {err}"})

    do_GET = do_POST = do_PUT = do_HEAD = _serve


@contextlib.contextmanager
def running_hub(root: Path, token: str | None, user: str = "someone") -> Iterator[LocalHub]:
    """A stand-in Hub on 127.0.0.1 that stores into `root` and accepts `token` only (None: refuses every one), the
    token of `user`."""
    hub = LocalHub(root, token, user)
    handler = type("Handler", (_Handler,), {"hub": hub})
    with serving_with(handler) as url:
        hub.url = url
        yield hub
