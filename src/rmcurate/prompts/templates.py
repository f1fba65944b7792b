"""Named, versioned prompt templates: prompts/files/<name>.v<N>.toml.

A template file never changes once released: a change is a new version, and
the version is part of every cache key. LOCK pins each file's sha256 and a
test fails when a released file is edited in place.
"""
import hashlib
import re
import string
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from rmcurate.schemas.judge import JudgeRequest, Sampling, Structured

TEMPLATE_DIR = Path(__file__).parent / "files"
_FILE = re.compile(r"^(?P<name>[a-z0-9_]+)\.v(?P<version>\d+)\.toml$")


class TemplateError(ValueError):
    pass


@dataclass(frozen=True)
class Template:
    name: str
    version: int
    description: str
    messages: tuple[tuple[str, str], ...]
    sampling: Sampling
    structured: Structured

    @property
    def fields(self) -> set[str]:
        return {f for _, text in self.messages for _, f, _, _ in string.Formatter().parse(text) if f}

    @property
    def choices(self) -> tuple[str, ...] | None:
        return self.structured.choice

    def render(self, **fields) -> JudgeRequest:
        """A request with the item's fields filled in; a missing field is an error, not a blank."""
        missing = self.fields - fields.keys()
        if missing:
            raise TemplateError(f"template {self.name} v{self.version} needs {', '.join(sorted(missing))}")
        values = {k: "" if v is None else str(v) for k, v in fields.items()}
        return JudgeRequest(messages=tuple((role, text.format_map(values)) for role, text in self.messages),
                            template=self.name, template_version=self.version,
                            sampling=self.sampling, structured=self.structured)


def available() -> dict[str, list[int]]:
    """Template name -> released versions, ascending."""
    found: dict[str, list[int]] = {}
    for path in TEMPLATE_DIR.glob("*.toml"):
        if m := _FILE.match(path.name):
            found.setdefault(m["name"], []).append(int(m["version"]))
    return {name: sorted(v) for name, v in sorted(found.items())}


@cache
def load(name: str, version: int | None = None) -> Template:
    """The named template, at `version` or the newest one."""
    versions = available().get(name)
    if not versions:
        raise TemplateError(f"no template named {name!r} in {TEMPLATE_DIR}")
    version = versions[-1] if version is None else version
    path = TEMPLATE_DIR / f"{name}.v{version}.toml"
    if not path.exists():
        raise TemplateError(f"template {name} has no version {version} (has {versions})")
    spec = tomllib.loads(path.read_text())
    structured = spec.get("structured", {})
    if "choice" in structured:
        structured["choice"] = tuple(structured["choice"])
    return Template(name=name, version=version, description=spec.get("description", "").strip(),
                    messages=tuple((m["role"], m["content"].strip()) for m in spec["messages"]),
                    sampling=Sampling(**spec.get("sampling", {})), structured=Structured(**structured))


def file_digests() -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(TEMPLATE_DIR.glob("*.toml"))}


def write_lock() -> None:
    """Pin every template file's digest: run `python -m rmcurate.prompts.templates` after adding a version."""
    (TEMPLATE_DIR / "LOCK").write_text("".join(f"{digest} {name}\n" for name, digest in file_digests().items()))


if __name__ == "__main__":
    write_lock()
