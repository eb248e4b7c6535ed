"""Other companies a customer names: "Zara sent me the wrong size", "no puedo entrar en la app del BBVA".

Such a question reads like a support question (an exchange, a log-in) and embeds next to the knowledge base's
articles, so the scope rail answered it with the served company's policy. The names come from
``data/scope/companies.txt`` (consumer-facing retailers, banks, telecoms, streaming, travel and delivery companies);
the scope rail reads "names a company that is not ours" as one feature (:meth:`graph.scope.ScopeModel.features`),
where "ours" is every listed name the knowledge base itself mentions and the configured company.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from graph.rails.patterns import fold
from retrieval.bundled import bundled_data

COMPANIES_FILE = "companies.txt"


class CompanyList:
    """The listed names, matched as whole words: case and accents ignored, or exact case for ``=`` lines."""

    def __init__(self, lines: list[str]) -> None:
        self.display: dict[str, str] = {}  # folded name -> the name as listed
        folded: list[str] = []
        exact: list[str] = []
        for line in (raw.strip() for raw in lines):
            if not line or line.startswith("#"):
                continue
            name = line.removeprefix("=").strip()
            self.display.setdefault(fold(name), name)
            (exact if line.startswith("=") else folded).append(name)
        self._folded = _alternation([fold(n) for n in folded])
        self._exact = _alternation(exact)

    def names(self, text: str) -> list[str]:
        """The listed companies ``text`` names (folded forms, in order of appearance, each once)."""
        found = [(m.start(), m.group(1)) for m in self._folded.finditer(fold(text))] if self._folded else []
        found += [(m.start(), fold(m.group(1))) for m in self._exact.finditer(text)] if self._exact else []
        return list(dict.fromkeys(name for _, name in sorted(found)))


def _alternation(names: list[str]) -> re.Pattern[str] | None:
    if not names:
        return None
    body = "|".join(re.escape(n) for n in sorted(set(names), key=len, reverse=True))  # longest first: "Uber Eats"
    return re.compile(rf"(?<!\w)({body})(?!\w)")


@lru_cache(maxsize=4)
def company_list(path: Path | None = None) -> CompanyList:
    """The shipped list (``data/scope/companies.txt``), or the one at ``path``; read once."""
    source = path or bundled_data() / "scope" / COMPANIES_FILE
    return CompanyList(source.read_text(encoding="utf-8").splitlines())


def own_companies(texts: list[str], company: str | None = None) -> set[str]:
    """The listed names ``texts`` (a knowledge base's titles and articles) mention, and ``company``'s own name (and
    any listed name in it): the companies that are "ours"."""
    companies = company_list()
    own = {name for text in texts for name in companies.names(text)}
    if company:
        own |= {fold(company).strip(), *companies.names(company)}
    return own
