"""``newsalert replay [PATHS...] [--rate N] [--loop] [--limit N]``: publish articles from files
straight to the ``articles`` topic, bypassing the HTTP ingest but not its rules.

Each record is validated and cleaned by the same function as ingest
(``newsalert.domain.articles.parse_article``) and published with ``KafkaPublisher`` (``acks=all``,
key = article id). PATHS are JSON Lines files, JSON arrays, single-article JSON files or
directories searched recursively for ``*.json`` and ``*.jsonl`` (sorted); the default is the
shipped seeds (``seeds/`` of the checkout or the installed package).

Pacing: ``--rate`` is a token bucket (articles per second, sent in small chunks of at most 1/20 s
worth); without it, batches of ``--batch`` records go as fast as the broker acknowledges them,
a few batches in flight at once. ``--loop`` starts again after the last file (each invalid record
is reported once); ``--limit`` stops after that many articles were published. Ctrl-C (or SIGTERM)
stops cleanly: what is in flight is awaited, then the summary is printed.

Invalid records are reported with file, line and field and skipped. Exit status: 0 when every
record was valid, 1 when some were invalid, 2 when the broker could not be reached (or did not
acknowledge) or a path does not exist.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import click

from newsalert.adapters.article_files import ParseError, Parsed, discover, read_file
from newsalert.adapters.broker import KafkaPublisher, Record
from newsalert.adapters.topics import ensure_topics
from newsalert.config import Settings, get_settings
from newsalert.domain.articles import InvalidArticle, parse_article
from newsalert.schemas.article import CLEANED_HEADERS
from newsalert.errors import InputError, NewsalertError, TransientError
from newsalert.shipped import seeds_dir

EXIT_OK, EXIT_INVALID, EXIT_BROKER = 0, 1, 2
# Batches in flight at once when no rate is set: enough to hide the acknowledgement round trip.
_MAX_IN_FLIGHT = 4
# With --rate, chunks hold at most this fraction of a second's articles.
_CHUNK_SECONDS = 0.05
_PLAIN_PROGRESS_EVERY_S = 2.0


class TokenBucket:
    """Token-bucket pacing: ``rate`` tokens per second, at most ``capacity`` saved up.

    ``take(n)`` takes ``n`` tokens and returns how long to wait before using them; tokens may go
    into debt, which keeps the long-run rate exact whatever the chunk sizes.
    """

    def __init__(self, rate: float, capacity: float, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.capacity = max(1.0, capacity)
        self._clock = clock
        self._tokens = self.capacity
        self._last = clock()

    def take(self, n: int) -> float:
        """Take ``n`` tokens; the seconds to wait before they may be spent (0 if available now)."""
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
        self._last = now
        self._tokens -= n
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate


@dataclass
class Tally:
    """Counts of a replay, for the progress display and the summary."""

    published: int = 0
    invalid: int = 0
    started: float = 0.0
    finished: float | None = None

    @property
    def elapsed(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    @property
    def rate(self) -> float:
        return self.published / self.elapsed if self.elapsed > 0 else 0.0


@dataclass(frozen=True)
class ReplayOptions:
    """What to replay and how fast."""

    files: list[Path]
    rate: float | None = None
    loop: bool = False
    limit: int | None = None
    batch: int = 500


# --- reading ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Valid:
    article_id: str
    value: bytes


@dataclass(frozen=True)
class _Invalid:
    message: str


def _records(options: ReplayOptions) -> Iterator[_Valid | _Invalid | None]:
    """Validated, cleaned records of every file, again and again with ``loop``. Invalid records
    are yielded on the first pass only; ``None`` marks the end of a pass."""
    first_pass = True
    while True:
        for path in options.files:
            for parsed in read_file(path):
                item = _check(parsed)
                if isinstance(item, _Valid) or first_pass:
                    yield item
        yield None
        if not options.loop:
            return
        first_pass = False


def _check(parsed: Parsed) -> _Valid | _Invalid:
    """One parsed item as a record to publish, or the report of why it is invalid."""
    if isinstance(parsed, ParseError):
        return _Invalid(parsed.describe())
    try:
        article = parse_article(parsed.value, size=len(parsed.text.encode()))
    except InvalidArticle as exc:
        what = f" (id {exc.record_id!r})" if exc.record_id else ""
        return _Invalid(f"{parsed.location}{what}: {exc}")
    return _Valid(article.id, article.to_json())


# --- publishing -------------------------------------------------------------------------------


async def replay_articles(settings: Settings, options: ReplayOptions, reporter: "Reporter", stop: asyncio.Event) -> Tally:
    """Publish the records of ``options.files`` to the articles topic; return the counts.

    Raises ``TransientError`` when the broker cannot be reached or does not acknowledge.
    """
    await ensure_topics(settings)
    topic = settings.topic("articles")
    publisher = KafkaPublisher(settings, client_id="newsalert-replay")
    await publisher.start()
    tally = Tally(started=time.monotonic())
    chunk = options.batch
    bucket = None
    if options.rate:
        chunk = max(1, min(options.batch, int(options.rate * _CHUNK_SECONDS)))
        bucket = TokenBucket(options.rate, capacity=chunk)
    in_flight: set[asyncio.Task] = set()

    async def send(batch: list[_Valid]) -> None:
        await publisher.publish_many([Record(topic, r.value, key=r.article_id.encode(), headers=CLEANED_HEADERS) for r in batch])
        tally.published += len(batch)
        reporter.update(tally)

    async def flush(batch: list[_Valid]) -> None:
        if bucket is not None:
            await _sleep_or_stop(bucket.take(len(batch)), stop)
        while len(in_flight) >= _MAX_IN_FLIGHT:
            done, _ = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            in_flight.difference_update(done)
            for task in done:
                task.result()  # re-raises a TransientError at once
        in_flight.add(asyncio.create_task(send(batch)))

    try:
        pending: list[_Valid] = []
        queued = 0
        published_this_pass = 0
        for item in _records(options):
            if stop.is_set() or (options.limit is not None and queued >= options.limit):
                break
            if item is None:  # end of a pass: a pass without one valid record would loop forever
                if options.loop and published_this_pass == 0:
                    reporter.note("no valid article in the files: --loop stops")
                    break
                published_this_pass = 0
                continue
            if isinstance(item, _Invalid):
                tally.invalid += 1
                reporter.invalid(item.message, tally)
                continue
            pending.append(item)
            queued += 1
            published_this_pass += 1
            if len(pending) >= chunk:
                await flush(pending)
                pending = []
            await asyncio.sleep(0)  # let acknowledgements and Ctrl-C through on long runs
        if pending and not stop.is_set():
            await flush(pending)
        if in_flight:
            await asyncio.gather(*in_flight)
    finally:
        for task in in_flight:
            task.cancel()
        await asyncio.gather(*in_flight, return_exceptions=True)
        await publisher.stop()
        tally.finished = time.monotonic()
    return tally


async def _sleep_or_stop(seconds: float, stop: asyncio.Event) -> None:
    """Sleep ``seconds`` unless ``stop`` is set first."""
    if seconds > 0:
        with suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=seconds)


# --- reporting --------------------------------------------------------------------------------


class Reporter:
    """Progress and problems: a rich progress bar on a terminal, plain lines otherwise."""

    def __init__(self, total: int | None, interactive: bool) -> None:
        self._interactive = interactive
        self._last_line = 0.0
        self._progress = None
        if interactive:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn("replay"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[rate]:>9.1f}/s"), TextColumn("invalid {task.fields[invalid]}"),
                TimeElapsedColumn(),
            )
            self._task = self._progress.add_task("replay", total=total, rate=0.0, invalid=0)
            self._progress.start()

    def update(self, tally: Tally) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=tally.published, rate=tally.rate, invalid=tally.invalid)
        elif time.monotonic() - self._last_line >= _PLAIN_PROGRESS_EVERY_S:
            self._last_line = time.monotonic()
            click.echo(f"replay: {tally.published} published ({tally.rate:.1f}/s), {tally.invalid} invalid")

    def invalid(self, message: str, tally: Tally) -> None:
        if self._progress is not None:
            self._progress.console.print(f"[red]invalid[/red] {message}", markup=True, highlight=False)
            self.update(tally)
        else:
            click.echo(f"replay: invalid record skipped: {message}", err=True)

    def note(self, message: str) -> None:
        click.echo(f"replay: {message}", err=True)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()


# --- command ----------------------------------------------------------------------------------


def _default_seeds() -> Path:
    """``seeds/`` of the working directory (a checkout or an edited copy), else the shipped seeds."""
    local = Path("seeds")
    return local if local.is_dir() else seeds_dir()


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), help="Articles per second (token bucket). Default: as fast as the broker acknowledges.")
@click.option("--loop", is_flag=True, help="Start again after the last file, until --limit or Ctrl-C.")
@click.option("--limit", type=click.IntRange(min=1), help="Stop after publishing this many articles.")
@click.option("--batch", default=500, show_default=True, type=click.IntRange(min=1), help="Articles per acknowledged batch when no rate is set.")
def replay(paths: tuple[Path, ...], rate: float | None, loop: bool, limit: int | None, batch: int) -> None:
    """Publish articles from JSON Lines / JSON files or directories (default: ./seeds/ when the
    working directory has one, else the shipped seeds) to the articles topic. Invalid records are reported with file, line and field and skipped.

    Exit status: 0 all valid, 1 some invalid, 2 broker unreachable or bad path."""
    settings = get_settings()
    _quiet_kafka_logs(settings)
    try:
        files = discover(paths or [_default_seeds()])
    except InputError as exc:
        click.echo(f"replay: {exc}", err=True)
        sys.exit(EXIT_BROKER)
    options = ReplayOptions(files=files, rate=rate, loop=loop, limit=limit, batch=batch)
    # The bar's total is known only with --limit: files are not read twice to count them.
    reporter = Reporter(limit, interactive=sys.stdout.isatty())
    try:
        tally = asyncio.run(_main(settings, options, reporter))
    except (TransientError, NewsalertError) as exc:
        reporter.close()
        click.echo(f"replay: cannot publish to Kafka at {settings.kafka_bootstrap}: {exc}", err=True)
        sys.exit(EXIT_BROKER)
    reporter.close()
    click.echo(
        f"replay: published {tally.published} articles to {settings.topic('articles')} from {len(files)} file(s) "
        f"in {tally.elapsed:.2f} s ({tally.rate:.1f}/s); {tally.invalid} invalid record(s) skipped"
    )
    sys.exit(EXIT_INVALID if tally.invalid else EXIT_OK)


def _quiet_kafka_logs(settings: Settings) -> None:
    """aiokafka logs every refused connection and every retried produce on its own; this command
    reports what matters (unreachable broker, unacknowledged records) itself, once."""
    if settings.log_level.upper() != "DEBUG":
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)


async def _main(settings: Settings, options: ReplayOptions, reporter: Reporter) -> Tally:
    """Run the replay with SIGINT/SIGTERM turned into a clean stop."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        return await replay_articles(settings, options, reporter, stop)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
