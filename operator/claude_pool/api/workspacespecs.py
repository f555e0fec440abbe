"""`ClaudePool.spec.workspace`: the git repository every slot of a pool clones and works in.

Read by the pool controller (`slots/pods.py`: the volume, the agent's settings and the git
credentials by secretKeyRef, a PVC per slot index) and by dispatch
(`workflows/workspacing.py`: the `WorkspaceRequest` of each task). The credentials Secret is
only ever referenced: its values never reach status, events or logs. Admission refuses what
the operator would otherwise ignore or fail on later (a URL with a password in it, push
without isolation, an unknown branch-name placeholder).
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field, field_validator, model_validator

from claude_pool.api.common import LocalObjectRef, Name, SpecModel, cel, validations
from claude_pool.api.workspaces import is_valid_branch

MAX_REPO_URL = 2048
MAX_DEPTH = 1_000_000
MAX_BRANCH_TEMPLATE = 200
PLACEHOLDERS = ("{task}", "{pool}", "{slot}", "{uid}")
"""What a branchTemplate may use: the task's name (the chain parent's with chain isolation),
the pool's name, the slot index and the task's uid."""
REPO_PATTERN = r"^(https?://|ssh://|file://|[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:)[^\s]+$"
_USERINFO_PASSWORD = r"^[A-Za-z][A-Za-z0-9+.-]*://[^/@]*:[^/@]*@"  # noqa: S105 - a regex, not a secret
_HTTP_USERINFO = r"^https?://[^/@]*@"
CREDENTIALS_IN_URL = (
    "spec.workspace.repo must not carry credentials (user:password@ or a token before @):"
    " put them in a Secret named by spec.workspace.credentialsSecret (keys token and"
    " username, or ssh-privatekey and known_hosts)"
)
PUSH_NEEDS_BRANCH = (
    "spec.workspace.push: branch needs a branch per task, slot or chain: isolation none works"
    " in the clone itself; set isolation task, slot or chain, or push none"
)
PLACEHOLDER_MESSAGE = "spec.workspace.branchTemplate may only use the placeholders " + " ".join(
    PLACEHOLDERS
)
BRANCH_TEMPLATE_PATTERN = r"^[A-Za-z0-9_{}][A-Za-z0-9._/{}-]*$"
BRANCH_SHAPE_MESSAGE = (
    "spec.workspace.branchTemplate must make a valid git branch name: no '..', '//', '/.',"
    " no '/' or '.' at the end, no '.lock' ending a part"
)
_BRANCH_SHAPE_RULE = (
    "!self.contains('..') && !self.contains('//') && !self.contains('/.')"
    " && !self.endsWith('/') && !self.endsWith('.') && !self.endsWith('.lock')"
    " && !self.contains('.lock/')"
)
PUSH_ON_APPROVAL_NEEDS_PUSH = (
    "spec.workspace.pushOnApproval needs push: branch (the approval pushes the branch)"
)


class WorkspaceIsolation(StrEnum):
    """Which tasks share a working tree."""

    NONE = "none"
    """Every task runs in the slot's clone itself; nothing is committed or pushed for it."""
    SLOT = "slot"
    """One worktree per slot, kept between its tasks (branch claude-pool/POOL-slot-N)."""
    TASK = "task"
    """A worktree per task, removed after it (its branch stays in the clone)."""
    CHAIN = "chain"
    """A worktree per task; a chain's steps share one, kept until the chain ends."""


class WorkspacePush(StrEnum):
    """What happens to a task's branch after its run."""

    NONE = "none"
    """The branch stays in the slot's clone (status says so)."""
    BRANCH = "branch"
    """The branch is pushed to the repository (origin) before its worktree goes."""


class AccessMode(StrEnum):
    """A PersistentVolumeClaim access mode."""

    READ_WRITE_ONCE = "ReadWriteOnce"
    READ_WRITE_ONCE_POD = "ReadWriteOncePod"
    READ_WRITE_MANY = "ReadWriteMany"


Quantity = Annotated[
    str, Field(min_length=1, max_length=64, pattern=r"^[0-9]+(\.[0-9]+)?([KMGTPE]i?|[munkMGTPE])?$")
]
"""A storage quantity such as 10Gi."""


class EmptyDirVolume(SpecModel):
    """The clone lives in an emptyDir: gone with the pod."""

    size_limit: Quantity | None = None
    """The emptyDir's sizeLimit (e.g. 5Gi)."""


class ClaimTemplate(SpecModel):
    """One PersistentVolumeClaim per slot index, `<pool>-ws-<index>`, owned by the pool: a
    replacement pod of that index finds its clone and fetches instead of cloning."""

    storage_class_name: Name | None = None
    """StorageClass of the claims (the cluster's default when unset)."""
    size: Quantity
    """Requested storage (e.g. 10Gi)."""
    access_modes: Annotated[list[AccessMode], Field(min_length=1, max_length=3)] | None = None
    """Access modes (default ReadWriteOnce)."""


class WorkspaceVolume(SpecModel):
    """Where the slot's clone lives: an emptyDir (default) or a claim per slot."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!(has(self.emptyDir) && has(self.claimTemplate))",
                "spec.workspace.volume: set emptyDir or claimTemplate, not both",
            )
        )
    )

    empty_dir: EmptyDirVolume | None = None
    """An emptyDir (the default when volume is unset)."""
    claim_template: ClaimTemplate | None = None
    """A PersistentVolumeClaim per slot index."""

    @model_validator(mode="after")
    def _one_kind(self) -> WorkspaceVolume:
        if self.empty_dir is not None and self.claim_template is not None:
            raise ValueError("spec.workspace.volume: set emptyDir or claimTemplate, not both")
        return self


def _template_rule() -> str:
    stripped = "self"
    for placeholder in PLACEHOLDERS:
        stripped += f".replace('{placeholder}', '')"
    return f"!{stripped}.contains('{{') && !{stripped}.contains('}}')"


def unknown_placeholders(template: str) -> list[str]:
    """The `{...}` parts of `template` that are not placeholders (and stray braces)."""
    stripped = template
    for placeholder in PLACEHOLDERS:
        stripped = stripped.replace(placeholder, "")
    return re.findall(r"\{[^}]*\}?|\}", stripped)


class Workspace(SpecModel):
    """A git repository every slot clones once and works in (see docs/operations.md)."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!(has(self.isolation) && self.isolation == 'none'"
                " && has(self.push) && self.push == 'branch')",
                PUSH_NEEDS_BRANCH,
            ),
            cel(
                "!(has(self.pushOnApproval) && self.pushOnApproval)"
                " || (has(self.push) && self.push == 'branch')",
                PUSH_ON_APPROVAL_NEEDS_PUSH,
            ),
        )
    )

    repo: Annotated[
        str,
        Field(
            min_length=1,
            max_length=MAX_REPO_URL,
            pattern=REPO_PATTERN,
            json_schema_extra=validations(
                cel(
                    f"!self.matches('{_USERINFO_PASSWORD}') && !self.matches('{_HTTP_USERINFO}')",
                    CREDENTIALS_IN_URL,
                )
            ),
        ),
    ]
    """Clone URL: https://, http://, ssh://, git@host:path or file://; no credentials in it."""
    ref: (
        Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[^\s~^:?*\[\\]+$")] | None
    ) = None
    """Branch, tag or commit to start from (the remote's HEAD when unset)."""
    depth: Annotated[int, Field(ge=1, le=MAX_DEPTH)] | None = None
    """Shallow clone of this many commits (a full clone when unset)."""
    credentials_secret: LocalObjectRef | None = None
    """Secret with the git credentials: `token` (https, sent as the password) and optional
    `username` (default x-access-token), or `ssh-privatekey` and optional `known_hosts`."""
    isolation: WorkspaceIsolation = WorkspaceIsolation.TASK
    """none, slot, task (default) or chain."""
    push: WorkspacePush = WorkspacePush.NONE
    """none (default: branches stay in the slot's clone) or branch (pushed after the run)."""
    branch_template: (
        Annotated[
            str,
            Field(
                min_length=1,
                max_length=MAX_BRANCH_TEMPLATE,
                pattern=BRANCH_TEMPLATE_PATTERN,
                json_schema_extra=validations(
                    cel(_template_rule(), PLACEHOLDER_MESSAGE),
                    cel(_BRANCH_SHAPE_RULE, BRANCH_SHAPE_MESSAGE),
                ),
            ),
        ]
        | None
    ) = None
    """Branch name of a task's work, with {task} {pool} {slot} {uid}; default
    claude-pool/{task} (claude-pool/{pool}-slot-{slot} with isolation slot)."""
    push_on_approval: bool = False
    """With push branch: a task with a review gate is pushed when a review approves it, not
    after its run (its branch waits in the slot's clone meanwhile)."""
    volume: WorkspaceVolume | None = None
    """emptyDir (default) or claimTemplate (a PVC per slot index)."""

    @field_validator("repo")
    @classmethod
    def _no_credentials(cls, repo: str) -> str:
        if re.match(_USERINFO_PASSWORD, repo) or re.match(_HTTP_USERINFO, repo):
            raise ValueError(CREDENTIALS_IN_URL)
        return repo

    @field_validator("branch_template")
    @classmethod
    def _known_placeholders(cls, template: str | None) -> str | None:
        if template is None:
            return None
        if unknown_placeholders(template):
            raise ValueError(f"{PLACEHOLDER_MESSAGE}: {', '.join(unknown_placeholders(template))}")
        sample = template
        for placeholder in PLACEHOLDERS:
            sample = sample.replace(placeholder, "x")
        if not is_valid_branch(sample):
            raise ValueError(BRANCH_SHAPE_MESSAGE)
        return template

    @model_validator(mode="after")
    def _push_needs_branch(self) -> Workspace:
        if self.isolation is WorkspaceIsolation.NONE and self.push is WorkspacePush.BRANCH:
            raise ValueError(PUSH_NEEDS_BRANCH)
        if self.push_on_approval and self.push is not WorkspacePush.BRANCH:
            raise ValueError(PUSH_ON_APPROVAL_NEEDS_PUSH)
        return self
