"""What every benchmark section receives and returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sony_de_platform.settings import Settings


@dataclass(frozen=True)
class BenchConfig:
    """One benchmark run: where to work, at which scale, quick (CI) or not."""

    settings: Settings
    scale: float
    seed: int
    quick: bool

    def work_dir(self, section: str) -> Path:
        return self.settings.data_dir / "bench" / section


@dataclass
class SectionResult:
    """A section's figures: `summary` goes to the JSON file, `table` is printed."""

    name: str
    summary: dict[str, Any]
    headers: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_markdown(self) -> str:
        lines = [
            f"## {self.name}",
            "",
            "| " + " | ".join(self.headers) + " |",
            "|" + "---|" * len(self.headers),
        ]
        lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in self.rows]
        if self.notes:
            lines += ["", *self.notes]
        return "\n".join(lines)
