"""The git source: the repository and branch reconciler tracks, and the one commit a run applies.

The controller keeps its own bare clone (``<state_dir>/repo.git`` unless ``git.clone`` says where)
and never reads a working tree: a run fetches, moves its local branch forward only if the new tip
descends from the last accepted commit (a rewritten history is refused and reported), and exports
that commit's ``desired/`` tree into a fresh temporary folder. Uncommitted edits anywhere are
therefore never applied by the controller.

Config::

    git:
      repository: /srv/git/infra.git     # path or URL the controller fetches from
      branch: main                       # the tracked branch (default main)
      path: desired                      # folder inside the repository (default desired)
      clone: repo.git                    # relative to state_dir (default repo.git)
"""

from __future__ import annotations

import json
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import git

from ..config import Config

ZERO_SHA = "0" * 40

# Variables git sets for hooks; inherited by our own git calls they would point them at the pushed
# repository instead of the controller's clone (git rev-parse --local-env-vars, plus quarantine).
GIT_LOCAL_ENV = ("GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_CONFIG", "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT",
                 "GIT_OBJECT_DIRECTORY", "GIT_DIR", "GIT_WORK_TREE", "GIT_IMPLICIT_WORK_TREE", "GIT_GRAFT_FILE",
                 "GIT_INDEX_FILE", "GIT_NO_REPLACE_OBJECTS", "GIT_REPLACE_REF_BASE", "GIT_PREFIX",
                 "GIT_INTERNAL_SUPER_PREFIX", "GIT_SHALLOW_FILE", "GIT_COMMON_DIR", "GIT_QUARANTINE_PATH",
                 "GIT_NAMESPACE")


class GitSourceError(Exception):
    """The repository cannot be used for this run; the message is safe to print (no credentials)."""


class HistoryRewritten(GitSourceError):
    def __init__(self, branch: str, accepted: str, tip: str) -> None:
        self.accepted, self.tip = accepted, tip
        super().__init__(f"branch {branch} was rewritten: the new tip {tip[:12]} does not descend from the last "
                         f"accepted commit {accepted[:12]}; refused (fast-forward only). If the rewrite was "
                         "intended, run `reconciler reconcile-commit --accept-rewrite`.")


def scrub_git_env() -> None:
    """Forget the hook-time git variables (see GIT_LOCAL_ENV) for this process."""
    for name in GIT_LOCAL_ENV:
        os.environ.pop(name, None)
    for name in [n for n in os.environ if n.startswith("GIT_PUSH_OPTION_") or n == "GIT_PUSH_OPTION_COUNT"]:
        os.environ.pop(name, None)


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    author: str
    subject: str
    committed: float
    branch: str
    repository: str

    def to_source(self) -> dict[str, Any]:
        """What Engine(source=...) records in run_start and the plan."""
        return {"commit": self.sha, "author": self.author, "subject": self.subject, "branch": self.branch,
                "repository": self.repository, "committed": self.committed}

    @property
    def short(self) -> str:
        return self.sha[:12]


@dataclass(frozen=True)
class Advance:
    previous: str | None  # the commit accepted before this fetch
    tip: str
    rewritten: bool = False  # accepted only with accept_rewrite

    @property
    def moved(self) -> bool:
        return self.previous != self.tip


class GitSource:
    def __init__(self, repository: str, branch: str, path: str, clone_dir: Path, state_file: Path) -> None:
        self.repository = repository
        self.branch = branch
        self.path = path.strip("/") or "."
        self.clone_dir = clone_dir
        self.state_file = state_file
        self._repo: git.Repo | None = None

    @classmethod
    def from_config(cls, cfg: Config) -> GitSource | None:
        section = cfg.section("git")
        if not section.get("repository"):
            return None
        repository = str(section["repository"])
        if "://" not in repository and not repository.startswith(("git@", "/")) and ":" not in repository:
            repository = str((cfg.path.parent / repository).resolve())  # a path relative to the config
        clone = Path(str(section.get("clone", "repo.git")))
        return cls(repository, str(section.get("branch", "main")), str(section.get("path", "desired")),
                   clone if clone.is_absolute() else cfg.state_dir / clone, cfg.state_dir / "git-state.json")

    @property
    def ref(self) -> str:
        return f"refs/heads/{self.branch}"

    # ---------------------------------------------------------------------------------- the clone
    def repo(self) -> git.Repo:
        if self._repo is None:
            try:
                if (self.clone_dir / "HEAD").exists():
                    repo = git.Repo(self.clone_dir)
                else:
                    self.clone_dir.mkdir(parents=True, exist_ok=True)
                    repo = git.Repo.init(self.clone_dir, bare=True)
                if "origin" in [r.name for r in repo.remotes]:
                    if repo.remotes.origin.url != self.repository:
                        repo.remotes.origin.set_url(self.repository)
                else:
                    repo.create_remote("origin", self.repository)
            except (git.GitError, OSError) as exc:
                raise GitSourceError(f"cannot prepare the controller's clone at {self.clone_dir}: "
                                     f"{_git_message(exc)}") from None
            self._repo = repo
        return self._repo

    def fetch(self) -> str:
        """Fetch the tracked branch; return its tip as the remote has it now."""
        repo = self.repo()
        remote_ref = f"refs/remotes/origin/{self.branch}"
        try:
            # '+' so that fetch itself succeeds on a rewrite; `advance` decides what to accept.
            repo.git.fetch("--no-tags", "--quiet", "origin", f"+{self.ref}:{remote_ref}")
        except git.GitCommandError as exc:
            raise GitSourceError(f"cannot fetch branch {self.branch} from {_safe_url(self.repository)}: "
                                 f"{_git_message(exc)}") from None
        return repo.git.rev_parse(remote_ref)

    def accepted(self) -> str | None:
        try:
            return self.repo().git.rev_parse("--verify", "--quiet", self.ref) or None
        except git.GitCommandError:
            return None

    def advance(self, tip: str, *, accept_rewrite: bool = False) -> Advance:
        """Move the accepted branch to ``tip``: fast-forward only, unless a rewrite is accepted."""
        repo = self.repo()
        previous = self.accepted()
        rewritten = False
        if previous and previous != tip and not repo.is_ancestor(previous, tip):
            if not accept_rewrite:
                raise HistoryRewritten(self.branch, previous, tip)
            rewritten = True
        if previous != tip:
            repo.git.update_ref(self.ref, tip, *([previous] if previous else []))
        return Advance(previous, tip, rewritten)

    def contains(self, sha: str, tip: str) -> bool:
        """Whether ``sha`` is ``tip`` or one of its ancestors (a pushed commit the branch still holds)."""
        repo = self.repo()
        try:
            full = repo.git.rev_parse("--verify", "--quiet", f"{sha}^{{commit}}")
        except git.GitCommandError:
            return False
        return bool(full) and (full == tip or repo.is_ancestor(full, tip))

    def resolve(self, sha: str) -> str | None:
        """The full SHA of a commit the clone holds (``sha`` may be abbreviated), else None."""
        try:
            return self.repo().git.rev_parse("--verify", "--quiet", f"{sha}^{{commit}}") or None
        except git.GitCommandError:
            return None

    def commit_info(self, sha: str) -> CommitInfo:
        try:
            commit = self.repo().commit(sha)
        except (ValueError, git.GitError, git.ODBError) as exc:  # e.g. the clone was re-created since it was applied
            raise GitSourceError(f"commit {sha[:12]} is not in the controller's clone at {self.clone_dir}: "
                                 f"{_git_message(exc)}") from None
        subject = str(commit.message).strip().splitlines()[0] if str(commit.message).strip() else ""
        author = f"{commit.author.name} <{commit.author.email}>"
        return CommitInfo(commit.hexsha, author, subject, float(commit.committed_date), self.branch,
                          _safe_url(self.repository))

    # ---------------------------------------------------------------------------------- export
    def export(self, sha: str, dest: Path) -> Path:
        """Write the commit's desired folder into ``dest``/desired and return that folder.

        Only regular files are written (symlinks and submodules are refused: a symlink in git
        could point outside the export), so what is validated is exactly what was committed.
        """
        commit = self.repo().commit(sha)
        out = dest / "desired"
        out.mkdir(parents=True, exist_ok=False)
        try:
            tree = commit.tree if self.path == "." else commit.tree / self.path
        except KeyError:
            raise GitSourceError(f"commit {sha[:12]} has no {self.path}/ folder") from None
        if tree.type != "tree":
            raise GitSourceError(f"commit {sha[:12]}: {self.path} is not a folder")
        try:
            self._write_tree(sha, tree, out)
        except (ValueError, OSError) as exc:  # e.g. a crafted tree entry named `..` (git mktree allows it)
            raise GitSourceError(f"commit {sha[:12]}: cannot export desired/ ({exc})") from None
        return out

    @staticmethod
    def _write_tree(sha: str, tree: Any, out: Path) -> None:
        for item in tree.traverse():
            rel = PurePosixPath(item.path).relative_to(tree.path) if tree.path else PurePosixPath(item.path)
            if any(part in ("..", ".") for part in rel.parts) or rel.is_absolute():
                raise ValueError(f"unsafe path {item.path!r}")
            if item.type == "tree":
                (out / rel).mkdir(parents=True, exist_ok=True)
                continue
            if item.type != "blob" or stat.S_ISLNK(item.mode):
                raise GitSourceError(f"commit {sha[:12]}: {item.path} is a symlink or submodule; desired/ may "
                                     "hold regular files only")
            target = out / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(item.data_stream.read())

    def dirty_note(self) -> str | None:
        """When the repository is a local working tree with uncommitted edits: say they are ignored."""
        path = Path(self.repository)
        if not path.is_dir() or not (path / ".git").exists():
            return None
        try:
            status = git.Repo(path).git.status("--porcelain", "--", self.path)
        except git.GitError:
            return None
        if not status.strip():
            return None
        return (f"{path} has uncommitted changes under {self.path}/; they are ignored — the controller applies "
                "committed work only")

    # ---------------------------------------------------------------------------------- state
    def load_state(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.state_file.read_text("utf-8")))
        except (OSError, ValueError):
            return {}

    def save_state(self, **fields: Any) -> None:
        state = {**self.load_state(), **fields, "updated": time.time()}
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, ensure_ascii=False, indent=1), "utf-8")
        os.replace(tmp, self.state_file)

    def record(self, what: str, sha: str, **fields: Any) -> None:
        """Remember what happened to a commit: ``applied``, ``fetched``, ``last_rejected``,
        ``last_refused`` or ``last_failed``. Only ``applied`` says what is on the live systems."""
        assert what in RECORDS, what
        self.save_state(**{what: {"commit": sha, "at": time.time(), **fields}})

    def deployed(self) -> str | None:
        """The last commit applied completely (and verified); None before the first one.

        Never the fetched tip: a tip that was rejected (invalid), refused (safety policy, rewritten
        history) or failed half-way is not what the live systems hold, so drift checks must not
        compare against it.
        """
        applied = (self.load_state().get("applied") or {}).get("commit")
        return str(applied) if applied else None

    def report(self) -> dict[str, Any]:
        """What /healthz and the status page show: the deployed commit and what came after it."""
        state = self.load_state()
        applied = state.get("applied") or {}
        out: dict[str, Any] = {"deployed": applied.get("commit"), "deployed_at": applied.get("at"),
                               "deployed_by": applied.get("trigger")}
        for key in RECORDS[1:]:
            out[key] = state.get(key)
        return out


# What record() accepts; "applied" first (the only one that is deployed).
RECORDS = ("applied", "fetched", "last_rejected", "last_refused", "last_failed")


def _safe_url(url: str) -> str:
    """A repository URL without any user:password part, for messages and the audit log."""
    if "://" in url and "@" in url.split("://", 1)[1].split("/", 1)[0]:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://{rest.split('@', 1)[1]}"
    return url


def _git_message(exc: Exception) -> str:
    if isinstance(exc, git.GitCommandError):
        text = str(exc.stderr or "").strip().removeprefix("stderr:").strip().strip("'").strip()
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        message = "; ".join(lines[-3:]) or f"git exited {exc.status}"
    else:
        message = f"{type(exc).__name__}: {exc}"
    # git may echo a URL with credentials in it; never pass those on.
    return " ".join(_safe_url(word) for word in message.split(" "))
