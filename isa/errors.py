"""Errors of ISA definitions: one line that names where and what, so a user can fix it."""

from __future__ import annotations


class IsaError(Exception):
    """A malformed ISA definition or a misuse of the expression language.

    ``where`` is ``file:line`` of the definition when known; ``instruction`` names the
    instruction whose declaration or semantics is wrong. ``str()`` gives the one-line
    message the CLI prints.
    """

    def __init__(self, problem: str, *, where: str | None = None, instruction: str | None = None):
        super().__init__(problem)
        self.problem = problem
        self.where = where
        self.instruction = instruction

    def located(self, where: str | None, instruction: str | None = None) -> "IsaError":
        """The same error, placed at ``where`` (kept if it already had a place)."""
        return IsaError(
            self.problem,
            where=self.where or where,
            instruction=self.instruction or instruction,
        )

    def __str__(self) -> str:
        parts = []
        if self.where:
            parts.append(self.where)
        if self.instruction:
            parts.append(f"instruction '{self.instruction}'")
        parts.append(self.problem)
        return ": ".join(parts)


class AsmError(Exception):
    """A malformed assembly program: carries the source name and line number."""

    def __init__(self, problem: str, *, source: str = "<program>", line: int | None = None):
        super().__init__(problem)
        self.problem = problem
        self.source = source
        self.line = line

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line is not None else self.source
        return f"{where}: {self.problem}"
