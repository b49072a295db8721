"""``newsalert match --rules FILE [ARTICLES...]``: an offline dry run of the matcher.

Articles are read from files (JSON Lines, a JSON array, one object) or directories of ``.json`` /
``.jsonl`` files, or from standard input when no path or ``-`` is given. Each is validated and
cleaned exactly as ingest does (``newsalert.domain.articles.parse_article``), then matched with the
engine the matcher service uses. Output, on stdout, is one JSON object per (article, rule) match,
in input order of articles then rule-file order::

    {"article_id": ..., "rule_id": ..., "notify": [...], "highlights": [{"field", "text", "start", "end"}]}

Highlight offsets are character offsets into the cleaned title / body / source. ``--explain`` adds
``"explain": {"query": ..., "terms": [{"term", "fields", "negated", "found": [...]}]}``.

An invalid article (bad JSON, failed validation) is reported on stderr as ``FILE:LINE: ...`` and
skipped; the others are still matched and the exit status is then 1. An invalid rule file is
reported as ``FILE:LINE:COL: message`` plus the caret excerpt, like ``rules check``, exit 1.

Nothing is sent anywhere, so subscriber secrets are not needed: an unset ``${VAR}`` in the rule
file is replaced by a placeholder secret for the dry run (a set one is used as is).
"""

from __future__ import annotations

import base64
import json
import os
import sys
from collections.abc import Iterator, Mapping

import click

from newsalert.adapters.article_files import ParseError, Parsed, discover, parse_document, read_file
from newsalert.domain.articles import InvalidArticle, parse_article
from newsalert.domain.matching import Engine, prepare
from newsalert.domain.rulefile import RuleFileError, RuleSet
from newsalert.adapters.rule_files import load_rule_file
from newsalert.errors import InputError

# A well-formed Standard Webhooks secret that signs nothing: the dry run never sends.
_PLACEHOLDER_SECRET = "whsec_" + base64.b64encode(b"\0" * 32).decode()


class _DryRunEnv(Mapping[str, str]):
    """The environment, with a placeholder for any variable that is not set."""

    def __getitem__(self, name: str) -> str:
        return os.environ.get(name, _PLACEHOLDER_SECRET)

    def __contains__(self, name: object) -> bool:
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(os.environ)

    def __len__(self) -> int:
        return len(os.environ)


def _items(paths: tuple[str, ...], failures: list[str]) -> Iterator[Parsed]:
    """Every parsed item of ``paths`` in order (stdin for ``-`` or no path at all)."""
    for path in paths or ("-",):
        if path == "-":
            yield from parse_document(sys.stdin.read(), "<stdin>")
            continue
        try:
            files = discover([path])
        except InputError as exc:
            failures.append(str(exc))
            click.echo(f"error: {exc}", err=True)
            continue
        for file in files:
            yield from read_file(file)


def _report(message: str, failures: list[str]) -> None:
    failures.append(message)
    click.echo(message, err=True)


def _load_rules(path: str) -> RuleSet:
    """The rule file, or its problems printed as ``FILE:LINE:COL: message`` and exit status 1."""
    try:
        return load_rule_file(path, env=_DryRunEnv())
    except RuleFileError as exc:
        for problem in exc.problems:
            click.echo(problem.render(), err=True)
        raise SystemExit(1) from None


@click.command("match")
@click.option("--rules", "rules_path", required=True, type=click.Path(dir_okay=False, path_type=str), help="The rule file (YAML).")
@click.option("--explain", is_flag=True, help="Add, per match, the query and which terms were found where.")
@click.argument("articles", nargs=-1, type=str)
def match(rules_path: str, explain: bool, articles: tuple[str, ...]) -> None:
    """Match ARTICLES (files, directories, or - for stdin; stdin when none) against a rule file."""
    rule_set = _load_rules(rules_path)
    engine = Engine(rule_set.rules)
    notify = {rule.id: list(rule.notify) for rule in rule_set.rules}
    by_id = {rule.id: rule for rule in rule_set.rules}
    failures: list[str] = []
    out = sys.stdout
    for item in _items(articles, failures):
        if isinstance(item, ParseError):
            _report(item.describe(), failures)
            continue
        try:
            article = parse_article(item.value, size=len(item.text.encode()))
        except InvalidArticle as exc:
            what = f" (id {exc.record_id!r})" if exc.record_id else ""
            _report(f"{item.location}{what}: invalid article: {exc}", failures)
            continue
        doc = prepare(article.title, article.body, article.source, cleaned=True)
        for found in engine.match(doc, explain=explain):
            if not by_id[found.rule_id].accepts(article.language, article.source):
                continue  # the rule's languages/sources filter, as in the matcher
            record = {
                "article_id": article.id,
                "rule_id": found.rule_id,
                "notify": notify[found.rule_id],
                "highlights": [h.to_dict() for h in found.highlights],
            }
            if found.explanation is not None:
                record["explain"] = found.explanation.to_dict()
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    out.flush()
    if failures:
        raise SystemExit(1)
