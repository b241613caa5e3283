"""Versioned prompt templates: load them by name, check them against the release manifest,
and render them into chat messages with untrusted text fenced off.

A template file has sections opened by `<<<meta>>>`, `<<<system>>>`, `<<<user>>>` and, for
two-step chain-of-thought templates, `<<<verdict>>>` (the follow-up turn whose first token is
scored). Slots are `{{name}}`; `{{#name}}...{{/name}}` keeps its body only when the slot is
non-empty. Rendering is one pass, so text substituted into a slot is never parsed again.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PROMPTS_DIR = Path(__file__).resolve().parent
MANIFEST_PATH = PROMPTS_DIR / "MANIFEST.json"

DEFAULT_RUBRIC = (
    "Prefer the response that is more helpful, honest and harmless: it does what the user "
    "asked, it is factually correct, it does not invent facts, and it is clear and concise."
)

# Tags the templates use to fence untrusted text; any occurrence inside a slot value is
# defused so a response cannot close its own block and speak as the template.
_FENCE_TAGS = ("prompt", "response", "response_1", "response_2", "reference", "principles")
_FENCE_RE = re.compile(r"<(\s*/?\s*)(" + "|".join(_FENCE_TAGS) + r")\b", re.IGNORECASE)
_SECTION_RE = re.compile(r"^<<<(meta|system|user|verdict)>>>\n", re.MULTILINE)
_TOKEN_RE = re.compile(r"\{\{#(\w+)\}\}(.*?)\{\{/\1\}\}|\{\{(\w+)\}\}", re.DOTALL)


class TemplateError(Exception):
    """A template is unknown, malformed, or differs from its released version."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"[{code}] {message}")
        self.code = code


@dataclass(frozen=True)
class Template:
    """One released template. `verdict` is empty for single-step templates."""

    name: str
    sha256: str
    kind: str  # "pairwise" | "score" | "critique" | "revise" (the last two: labeling.revision)
    reasoning: str  # "none" | "cot"
    system: str
    user: str
    verdict: str = ""

    @property
    def is_cot(self) -> bool:
        return self.reasoning == "cot"


def template_names() -> list[str]:
    """Names of every template file shipped in this package, sorted."""
    return sorted(p.stem for p in PROMPTS_DIR.glob("*.txt"))


def released_hashes() -> dict[str, str]:
    """The manifest: template name -> sha256 of its released file."""
    return json.loads(MANIFEST_PATH.read_text(encoding="utf-8"))


def load_template_text(name: str) -> tuple[str, str]:
    """Return (text, sha256) of the template file `name` (without `.txt`).

    Raises TemplateError(`prompts.unknown`) listing the valid names when there is no such file.
    """
    path = PROMPTS_DIR / f"{name}.txt"
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or not path.is_file():
        raise TemplateError(
            "prompts.unknown",
            f"no prompt template named {name!r}; valid names: {', '.join(template_names())}",
        )
    raw = path.read_bytes()
    return raw.decode("utf-8"), hashlib.sha256(raw).hexdigest()


@cache
def load_template(name: str) -> Template:
    """Load, verify against MANIFEST.json and parse the template `name`.

    Raises TemplateError when the file is unknown, unreleased, edited after release
    (`prompts.changed`: released versions never change, add a new version file instead) or
    malformed.
    """
    text, digest = load_template_text(name)
    released = released_hashes().get(name)
    if released is None:
        raise TemplateError(
            "prompts.unreleased",
            f"template {name!r} is not in {MANIFEST_PATH.name}; add its sha256 there to release it",
        )
    if released != digest:
        raise TemplateError(
            "prompts.changed",
            f"template {name!r} differs from its released version (sha256 {digest[:12]} != "
            f"{released[:12]}); released templates never change: copy it to a new version file",
        )
    return _parse(name, digest, text)


def _parse(name: str, digest: str, text: str) -> Template:
    parts = _SECTION_RE.split(text)
    sections = dict(zip(parts[1::2], parts[2::2], strict=True))
    missing = {"meta", "system", "user"} - sections.keys()
    if parts[0].strip() or missing:
        raise TemplateError("prompts.malformed", f"template {name!r} needs sections meta, system and user")
    meta = {
        key.strip(): value.strip()
        for key, _, value in (line.partition(":") for line in sections["meta"].splitlines())
        if key.strip()
    }
    kind, reasoning = meta.get("kind", ""), meta.get("reasoning", "none")
    if kind not in {"pairwise", "score", "critique", "revise"} or reasoning not in {"none", "cot"}:
        raise TemplateError(
            "prompts.malformed",
            f"template {name!r}: meta kind must be pairwise|score|critique|revise and reasoning none|cot",
        )
    if (reasoning == "cot") != ("verdict" in sections):
        raise TemplateError("prompts.malformed", f"template {name!r}: a cot template needs a verdict section")
    return Template(
        name=name,
        sha256=digest,
        kind=kind,
        reasoning=reasoning,
        system=sections["system"].strip(),
        user=sections["user"].strip(),
        verdict=sections.get("verdict", "").strip(),
    )


def fence(text: str) -> str:
    """Defuse template tags inside untrusted text (`</response_1>` -> `&lt;/response_1>`)."""
    return _FENCE_RE.sub(r"&lt;\1\2", text)


def fill(section: str, slots: dict[str, str]) -> str:
    """Substitute `slots` into one template section in a single pass.

    Raises TemplateError(`prompts.slot`) for a slot the caller did not provide, so a typo in a
    template fails loudly instead of rendering an empty block.
    """

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3)
        if name not in slots:
            raise TemplateError("prompts.slot", f"no value for template slot {name!r}")
        if match.group(1):
            return fill(match.group(2), slots) if slots[name] else ""
        return slots[name]

    return _TOKEN_RE.sub(replace, section)
