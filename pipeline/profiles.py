"""The office profile (``forms/<office>.yaml``): its schema, checked when the profile is loaded, and the
:class:`OfficeProfile` every stage reads (extract, validate, review, issue and the wiring alike).

Every key has a type; an unknown key, a wrong type, a category without an action or an action name that
does not exist stops ``cert-intake`` at start with a :class:`~pipeline.errors.ConfigError` naming the file
and the key (``forms/x.yaml: categories.新申请: unknown action 'isue_new'``).  Every key either drives
behaviour or is *declared* for a later issue (marked so below); nothing is read that is not here.

:func:`load_profile` builds the ``OfficeProfile`` the stages use from this model; ``attachments.yaml``
(the fields read off ID cards and licences) loads as :class:`AttachmentSpecs`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pipeline.actions import Action
from pipeline.errors import ConfigError
from pipeline.models import DocKind

Shape = Literal[
    "text",
    "name",
    "person",
    "uscc",
    "id_number",
    "id_type",
    "phone",
    "email",
    "years",
    "product_cert",
    "algorithm",
    "amount",
    "serial",
]
KeyUsageName = Literal[
    "digital_signature",
    "non_repudiation",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "encipher_only",
    "decipher_only",
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldModel(Strict):
    """One field of the 申请表 (edited for extraction: labels as printed and as OCR reads them)."""

    labels: list[str] = Field(min_length=1)
    shape: Shape = "text"
    row_of: str | None = None  # the label on the same table row as this field's label
    below: str | None = None  # the first such label below this field's label row
    optional: bool = False
    value: Literal["right", "below"] = "right"  # where the value cell is


class CategoryFieldModel(Strict):
    label: str = "申请类别"
    options: list[str] = Field(default_factory=list)  # every option printed on the form, ticked or not


class CertificateProfileModel(Strict):
    """What the issued certificates carry."""

    sign_key_usage: list[KeyUsageName] | None = None  # None: the issuer's default for the signing certificate
    env_key_usage: list[KeyUsageName] | None = None
    validity_years: int = Field(default=10, ge=1, le=30)
    subject_serial_number: bool = True
    crl_url: str | None = None
    uscc_extension_oid: str | None = Field(default=None, pattern=r"^\d+(\.\d+)+$")


StoreRole = Literal["registrar", "approver", "admin"]  # pipeline.review.roles.Role values that verify or approve


class StageModel(Strict):
    """One review stage: its name (the queue shows 待<name>), the store role that carries it out (an admin
    may too) and who the seed says acts (e.g. 省级商务主管部门)."""

    name: str = Field(min_length=1, max_length=10)
    role: StoreRole
    title: str = ""


DEFAULT_STAGES = (StageModel(name="验核", role="registrar"), StageModel(name="复核", role="approver"))


class ReviewModel(Strict):
    """Who must act before a case is carried out (enforced in pipeline.policy).

    ``auto``: a clean case is carried out on its own, a doubtful one waits for 验核 then 复核 (two people unless
    ``two_person: false``); ``one_stage``: every case waits for one approval (a doubtful one for 验核 too);
    ``two_stage``: every case waits for both stages, in order, by two different people, each with its role."""

    two_person: bool = True  # a case one person corrected is approved by another
    policy: Literal["auto", "one_stage", "two_stage"] = "auto"
    stages: list[StageModel] = Field(default_factory=list)  # empty: 验核 (registrar) then 复核 (approver)

    @model_validator(mode="after")
    def _stages_fit(self) -> ReviewModel:
        if len(self.stages) > 2:
            raise ValueError("review.stages: at most two stages (验核, 复核)")
        if self.policy == "one_stage" and len(self.stages) > 1:
            raise ValueError("review.stages: a one_stage policy has one stage")
        if self.policy == "two_stage" and len(self.stages) not in (0, 2):
            raise ValueError("review.stages: a two_stage policy has two stages")
        # the first of two stages is a verification (registrar), the last an approval (approver); admin does both
        if len(self.stages) == 2 and self.stages[0].role == "approver":
            raise ValueError("review.stages.0.role: the first stage verifies (registrar or admin), not 'approver'")
        if self.stages and self.stages[-1].role == "registrar":
            raise ValueError("review.stages: the last stage approves (approver or admin), not 'registrar'")
        return self


class ProfileModel(Strict):
    office: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: str
    form_title: str = ""  # the 申请表's printed title (README office table)
    form_keywords: list[str] = Field(default_factory=list)  # identify the office's form (classification)
    notice_title: str = "数字证书"  # the 告知书 / 通知书 title prefix
    office_phone: str = ""
    notice_note: str = ""  # the office's own line under the 告知书's file list
    categories: dict[str, Action] = Field(min_length=1)  # every category the office handles → its action
    category_aliases: dict[str, str] = Field(default_factory=dict)  # other wording → one of the categories
    certificates_per_org: int = Field(default=0, ge=0)  # active certificates per organisation (0: no limit)
    deadline_working_days: int = Field(default=0, ge=0)
    holidays: list[date] = Field(default_factory=list)
    confidence_threshold: float = Field(default=0.9, gt=0, le=1)
    renew_revokes_old_after_months: int = Field(default=1, ge=0)  # renew: the old certificate's grace period
    rsa_allowed_until: date | None = None  # set: RSA requests are refused (SM2 only since that date)
    unsealed_text_form: Literal["review", "accept"] = "review"
    product_registry_required: bool = True
    service_device_types: list[str] | None = None
    notice_pdf: bool = False  # render the 告知书 to PDF too (LibreOffice)
    review: ReviewModel = ReviewModel()
    # revoke (and the revoke half of replace/change) runs without a reviewer's approval; the 申请表 must still
    # be a sealed, signed scan of the certificate's organisation
    unattended_revocation: bool = False
    # 政务外网 (seed 003) 办理方式 (集中办理 / 自主办理): printed on the form; recorded when a `mode` field is read
    modes: list[str] = Field(default_factory=list)
    # extraction (labels, printed hints, labels that end a value, the ticked category's row)
    fields: dict[str, FieldModel] = Field(min_length=1)
    hints: list[str] = Field(default_factory=list)
    stop_labels: list[str] = Field(default_factory=list)
    category_field: CategoryFieldModel = Field(default_factory=CategoryFieldModel)
    # per action the office offers: the 申请表 fields that must be filled and the documents that must come
    required_fields: dict[Action, list[str]] = Field(default_factory=dict)
    materials: dict[Action, dict[DocKind, str]] = Field(default_factory=dict)
    profile: CertificateProfileModel = CertificateProfileModel()

    @model_validator(mode="after")
    def _consistent(self) -> ProfileModel:
        problems = [*self._alias_problems(), *self._per_action_problems(), *self._field_problems()]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _alias_problems(self) -> list[str]:
        out = []
        for alias, target in self.category_aliases.items():
            if target not in self.categories:
                out.append(f"category_aliases.{alias}: '{target}' is not one of categories")
            if alias in self.categories:
                out.append(f"category_aliases.{alias}: already a category")
        return out

    def _per_action_problems(self) -> list[str]:
        offered = set(self.categories.values())
        out = [
            f"{section}.{action}: no category of this office maps to '{action}'"
            for section, keys in (("required_fields", self.required_fields), ("materials", self.materials))
            for action in keys
            if action not in offered
        ]
        for action, keys in self.required_fields.items():
            out += [f"required_fields.{action}: unknown field '{k}'" for k in keys if k not in self.fields]
        return out

    def _field_problems(self) -> list[str]:
        return [
            f"fields.{key}.{anchor}: unknown field '{ref}'"
            for key, spec in self.fields.items()
            for anchor, ref in (("row_of", spec.row_of), ("below", spec.below))
            if ref is not None and ref not in self.fields
        ]

    def action_of(self, category: str) -> Action | None:
        """The action of a category or alias; None when the profile does not map it."""
        return self.categories.get(self.category_aliases.get(category, category))


def _describe(err: Any) -> str:
    parts = [str(p) for p in err["loc"] if p != "[key]"]  # a bad mapping key is named by the key itself
    loc = ".".join(parts)
    kind = err["type"]
    if kind == "extra_forbidden":
        text = "unknown key"
    elif kind == "enum" and parts and parts[0] in ("categories", "required_fields", "materials"):
        what = "document kind" if parts[0] == "materials" and len(parts) > 2 else "action"
        text = f"unknown {what} {err['input']!r}"
    elif kind == "value_error":
        return str(err["ctx"]["error"]) if "ctx" in err else err["msg"]
    else:
        text = err["msg"]
    return f"{loc}: {text}" if loc else text


def parse_profile(data: Any, source: str) -> ProfileModel:
    """Validate a profile's YAML data; ConfigError names the file and each offending key."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: an office profile is a mapping of keys")
    try:
        return ProfileModel.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: " + f"\n{source}: ".join(_describe(e) for e in exc.errors())) from None


def read_profile(path: Path) -> tuple[ProfileModel, dict[str, Any]]:
    """The validated model and the YAML data it came from."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the office profile: {exc}") from None
    return parse_profile(data, str(path)), data


# --------------------------------------------------------------------------- the profile the stages use


@dataclass(frozen=True)
class FieldSpec:
    key: str
    labels: tuple[str, ...]
    shape: str = "text"
    row_of: str | None = None
    below: str | None = None
    optional: bool = False
    value_at: str = "right"  # where the value cell is: right of the label cell, or below it


@dataclass(frozen=True)
class OfficeProfile:
    office: str
    name: str
    form_title: str
    form_keywords: tuple[str, ...]
    categories: tuple[str, ...]
    category_aliases: dict[str, str]
    fields: tuple[FieldSpec, ...]
    stop_labels: tuple[str, ...]
    category_label: str
    category_options: tuple[str, ...]
    required_fields: dict[Action, tuple[str, ...]]  # per action (pipeline.actions), not per category name
    materials: dict[Action, dict[str, str]]
    confidence_threshold: float
    raw: dict[str, Any] = field(default_factory=dict)
    settings: ProfileModel | None = None  # the validated profile (pipeline.profiles); None only in hand-made ones

    def action_of(self, category: str | None) -> Action | None:
        """The action a category (or alias) maps to; None when the profile does not map it."""
        if not category:
            return None
        if self.settings is not None:
            return self.settings.action_of(category)
        return None

    def spec(self, key: str) -> FieldSpec:
        for f in self.fields:
            if f.key == key:
                return f
        raise KeyError(key)


def field_spec(key: str, v: dict[str, Any]) -> FieldSpec:
    """One field of a profile or of attachments.yaml: its labels, value shape and anchors."""
    return FieldSpec(
        key=key,
        labels=tuple(v["labels"]),
        shape=v.get("shape", "text"),
        row_of=v.get("row_of"),
        below=v.get("below"),
        optional=bool(v.get("optional", False)),
        value_at=str(v.get("value", "right")),
    )


def load_profile(path: Path) -> OfficeProfile:
    """A profile checked against its schema (pipeline.profiles): ConfigError names the file and the key."""
    model, data = read_profile(path)
    fields = tuple(field_spec(k, v) for k, v in data["fields"].items())
    return OfficeProfile(
        office=model.office,
        name=model.name,
        form_title=model.form_title,
        form_keywords=tuple(model.form_keywords),
        categories=tuple(model.categories),
        category_aliases=dict(model.category_aliases),
        fields=fields,
        stop_labels=tuple(model.stop_labels),
        category_label=model.category_field.label,
        category_options=tuple(model.category_field.options or model.categories),
        required_fields={a: tuple(keys) for a, keys in model.required_fields.items()},
        materials={a: {str(kind): label for kind, label in m.items()} for a, m in model.materials.items()},
        confidence_threshold=model.confidence_threshold,
        raw=data,
        settings=model,
    )


def load_profiles(forms_dir: Path) -> dict[str, OfficeProfile]:
    return {
        p.office: p for p in (load_profile(f) for f in sorted(forms_dir.glob("*.yaml")) if f.name != ATTACHMENTS_FILE)
    }


ATTACHMENTS_FILE = "attachments.yaml"


@dataclass(frozen=True)
class AttachmentSpecs:
    by_kind: dict[str, tuple[FieldSpec, ...]]
    stop_labels: tuple[str, ...]


def load_attachment_specs(forms_dir: Path) -> AttachmentSpecs:
    data = yaml.safe_load((forms_dir / ATTACHMENTS_FILE).read_text(encoding="utf-8"))
    stop = tuple(data.pop("stop_labels", []))
    by_kind = {kind: tuple(field_spec(k, v) for k, v in spec.items()) for kind, spec in data.items()}
    return AttachmentSpecs(by_kind, stop)
