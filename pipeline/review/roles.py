"""Roles and what each may do (seed 003: 注册管理员 registers and verifies, 审批管理员 approves)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    CLERK = "clerk"  # 受理员: sees cases, corrects fields
    REGISTRAR = "registrar"  # 注册管理员: verifies (验核), rejects, requests materials, merges
    APPROVER = "approver"  # 审批管理员: approves (复核)
    ADMIN = "admin"  # everything (still bound by the two-person rule)


ROLE_NAMES = {
    Role.CLERK: "受理员",
    Role.REGISTRAR: "注册管理员（验核）",
    Role.APPROVER: "审批管理员（复核）",
    Role.ADMIN: "系统管理员",
}

PERMISSIONS: dict[str, frozenset[Role]] = {
    "view": frozenset(Role),
    "see_personal": frozenset({Role.REGISTRAR, Role.APPROVER, Role.ADMIN}),
    "correct": frozenset({Role.CLERK, Role.REGISTRAR, Role.ADMIN}),
    "verify": frozenset({Role.REGISTRAR, Role.ADMIN}),
    "approve": frozenset({Role.APPROVER, Role.ADMIN}),
    "reject": frozenset({Role.REGISTRAR, Role.APPROVER, Role.ADMIN}),
    "request": frozenset({Role.REGISTRAR, Role.ADMIN}),
    "merge": frozenset({Role.REGISTRAR, Role.ADMIN}),
    "duplicate": frozenset({Role.REGISTRAR, Role.ADMIN}),
}


def allowed(role: str, permission: str) -> bool:
    try:
        return Role(role) in PERMISSIONS[permission]
    except ValueError:
        return False
