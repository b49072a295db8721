"""What one feed poll costs, against a raw aiohttp GET of the same document measured in the same run.

A local aiohttp server serves an RSS 2.0 document of N BBC articles (from /work/shared/data) with an
ETag. Measured, each for the same number of rounds, one after the other in one event loop:

- reference: ``session.get`` of the document, body read (what any poller must pay);
- 304: ``FeedPoller.poll_once`` with the ETag in memory (the server answers 304);
- 200, nothing new: ``poll_once`` with the ETag forgotten (fetch, feedparser, ids, seen check);
- parsing alone: ``parse_feed`` of the document (feedparser), no HTTP;
- first poll: a fresh poller publishing all N entries (to the in-memory broker, so no Kafka cost).

Writes the "Feed polling" section of docs/benchmarks.md (ratios against the reference; the
machine is shared, so absolute times vary between runs and ratios are the figures to compare).

    .venv/bin/python benchmarks/feeds_poll.py [--entries 100] [--rounds 200]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from newsalert.adapters.feed_http import FeedFetcher  # noqa: E402
from newsalert.adapters.memory_broker import InMemoryBroker  # noqa: E402
from newsalert.config import Settings  # noqa: E402
from newsalert.domain.feeds.parsed import parse_feed  # noqa: E402
from newsalert.domain.feeds.schedule import PollSchedule  # noqa: E402
from newsalert.domain.feeds.seen import SeenIds  # noqa: E402
from newsalert.schemas.feeds import FeedSpec  # noqa: E402
from newsalert.services.feeds.metrics import FeedMetrics  # noqa: E402
from newsalert.services.feeds.poller import FeedPoller, PollerDeps  # noqa: E402
from tests import feed_documents as docs  # noqa: E402
from tests.integration.feed_server import FeedServer, Route  # noqa: E402

SECTION = "## Feed polling (benchmarks/feeds_poll.py)"


async def timed(rounds: int, action) -> list[float]:
    """Milliseconds of each of ``rounds`` awaits of ``action()``."""
    out = []
    for _ in range(rounds):
        started = time.perf_counter()
        await action()
        out.append((time.perf_counter() - started) * 1000)
    return out


async def measure(entries: int, rounds: int) -> dict[str, list[float]]:
    server = await FeedServer().start()
    body = docs.rss(docs.items(entries))
    server.routes["feed.xml"] = Route(body)
    url = server.url("feed.xml")
    settings = Settings(allow_private_targets=True, feeds_seen_per_feed=max(1000, entries * 2))
    fetcher = FeedFetcher(settings)

    def poller() -> FeedPoller:
        deps = PollerDeps(settings, fetcher, InMemoryBroker(), FeedMetrics(), PollSchedule(0.1, 3600, 3600))
        return FeedPoller(FeedSpec(id="bench", url=url), deps, SeenIds(settings.feeds_seen_per_feed))

    async with aiohttp.ClientSession() as session:
        async def raw_get() -> None:
            async with session.get(url) as response:
                assert response.status == 200 and len(await response.read()) == len(body)

        warm = poller()
        await warm.poll_once()

        async def unchanged() -> None:
            warm.etag = None
            result = await warm.poll_once()
            assert result.status == 200 and result.published == 0, result

        async def not_modified() -> None:
            result = await warm.poll_once()
            assert result.status == 304, result

        async def first() -> None:
            result = await poller().poll_once()
            assert result.published == entries, result

        async def parse_only() -> None:
            parse_feed(body, "application/rss+xml")

        await warm.poll_once()  # keeps the ETag: the 304 rounds start from here
        figures = {
            "reference: raw aiohttp GET": await timed(rounds, raw_get),
            "poll answered 304 (ETag)": await timed(rounds, not_modified),
            "poll 200, nothing new": await timed(rounds, unchanged),
            "of which parsing (feedparser, no HTTP)": await timed(rounds, parse_only),
            f"first poll, {entries} entries published": await timed(max(5, rounds // 10), first),
        }
    await fetcher.close()
    await server.close()
    return figures


def report(figures: dict[str, list[float]], entries: int, rounds: int) -> str:
    reference = statistics.median(next(iter(figures.values())))
    lines = [
        SECTION, "",
        f"One feed of {entries} BBC articles as RSS 2.0 ({len(docs.rss(docs.items(entries))) // 1024} KiB) served on 127.0.0.1; "
        f"{rounds} rounds each, medians; `{Path(sys.argv[0]).name} --entries {entries} --rounds {rounds}`, "
        f"{time.strftime('%Y-%m-%d %H:%M')}. The reference is a raw aiohttp GET of the same document in the same run.",
        "", "| what | median ms | p90 ms | x reference |", "|---|---:|---:|---:|",
    ]
    for name, values in figures.items():
        median = statistics.median(values)
        p90 = sorted(values)[int(len(values) * 0.9) - 1]
        lines.append(f"| {name} | {median:.2f} | {p90:.2f} | {median / reference:.1f} |")
    return "\n".join(lines) + "\n"


def write_section(text: str) -> None:
    """Replace (or append) the section in docs/benchmarks.md."""
    path = REPO / "docs" / "benchmarks.md"
    doc = path.read_text(encoding="utf-8")
    if SECTION in doc:
        start = doc.index(SECTION)
        end = doc.find("\n## ", start + len(SECTION))
        doc = doc[:start] + text + (doc[end + 1:] if end != -1 else "")
    else:
        doc = doc.rstrip("\n") + "\n\n" + text
    path.write_text(doc, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    figures = asyncio.run(measure(args.entries, args.rounds))
    text = report(figures, args.entries, args.rounds)
    print(text)
    write_section(text)


if __name__ == "__main__":
    main()
