"""``newsalert serve matcher --rules FILE``: the one place that wires the matcher together.

Order matters, and nothing connects before the rules are known to be good:

1. load and validate the rule file; a broken file prints every problem with its location on stderr
   and exits with status 1 before any connection is made;
2. compile the matching engine once;
3. create the topics that do not exist yet (idempotent);
4. build the faust app (``newsalert.services.matcher.app.build_app``) and run a faust worker in the
   foreground until SIGTERM/SIGINT, with two services started before the app and stopped after
   it: ``LiveRulesService`` (reads the ``rules`` topic, publishes the file's snapshot when it is
   newer, watches the file: ``newsalert.services.matcher.live``) and ``OutputService`` (publisher and
   in-flight window); and the stall watchdog thread (``newsalert.services.matcher.watchdog``).

Scale by adding partitions to ``articles`` and starting more workers: they share the consumer
group ``settings.group("matcher")``.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import faust

from newsalert.adapters import kafka_pacing
from newsalert.adapters.broker import KafkaPublisher
from newsalert.adapters.topics import ensure_topics
from newsalert.config import Settings, get_settings
from newsalert.adapters.rule_files import load_rule_file
from newsalert.domain.gcpause import keep_out_of_collections
from newsalert.domain.rule_items import RuleFileReader
from newsalert.domain.rulefile import RuleFileError, RuleSet
from newsalert.errors import SetupError, TransientError
from newsalert.services.matcher.app import MatcherState, OutputService, build_app, faust_datadir
from newsalert.services.matcher.live import LiveRulesService
from newsalert.services.matcher.processing import build_matcher, changed_matcher
from newsalert.services.matcher.watchdog import Watchdog

EXIT_BAD_RULES = 1
EXIT_NO_BROKER = 2


def run(rules_path: Path, port: int) -> None:
    """Run the matcher worker in the foreground; exits the process when it stops."""
    settings = get_settings()
    kafka_pacing.install(settings)
    reader = RuleFileReader()  # kept by the file watch: reloads read the changed rules only
    ruleset = load_rules_or_exit(rules_path, reader)
    matcher = build_matcher(settings, ruleset)
    keep_out_of_collections()
    # faust's worker runs on this loop; the topics are created on it first so that no other
    # loop is left behind (faust looks the current loop up when it starts).
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(ensure_topics(settings))
    except (TransientError, SetupError) as exc:
        print(f"newsalert matcher: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_NO_BROKER) from None
    faust_datadir(settings).mkdir(parents=True, exist_ok=True)
    state = MatcherState(matcher=matcher, rules_loaded=len(ruleset.rules))
    # The agent does not wait for acknowledgements (the output service's window does), so a short
    # linger batches the alerts of consecutive articles into fewer produce requests.
    output = OutputService(
        lambda: KafkaPublisher(settings, client_id=f"newsalert-{settings.group('matcher')}", linger_ms=settings.matcher_linger_ms),
        state,
        settings.matcher_max_in_flight,
        backoff=kafka_pacing.broker_backoff(settings),
    )
    app = build_app(settings, state, output, port=port)

    async def install(rule_set: RuleSet) -> None:
        # On the loop, between two articles: a small change is applied to the running engine
        # rule by rule; a large one is compiled off the loop. Either is swapped in with one
        # assignment: the agent reads state.matcher per article.
        matcher = changed_matcher(settings, state.matcher, rule_set)
        if matcher is None:
            matcher = await asyncio.to_thread(build_matcher, settings, rule_set)
        state.matcher = matcher
        state.rules_loaded = len(rule_set.rules)
        keep_out_of_collections()

    live = LiveRulesService(settings, rules_path, ruleset, install, installed_version=ruleset.version, reader=reader)
    start_watchdog(settings, state)
    worker = faust.Worker(
        app,
        # faust starts extra services before the app (in this order) and stops them after it:
        # the rule set is read from the rules topic before the first article is matched.
        live,
        output,
        loop=loop,
        loglevel=settings.log_level,
        redirect_stdouts=False,
    )
    # faust's terminal spinner: at WARNING or above, faust sets the root logger to DEBUG and adds
    # a handler that advances the spinner once per record, so every debug call of every library
    # (aiokafka logs one per record sent) builds a LogRecord: measured as several % of the
    # matcher's CPU under load. A service has no terminal to spin on.
    worker.spinner = None
    worker.execute_from_commandline()


def start_watchdog(settings: Settings, state: MatcherState) -> Watchdog | None:
    """Start stall detection (``newsalert.services.matcher.watchdog``) unless ``NEWSALERT_STALL_TIMEOUT`` is 0."""
    if settings.stall_timeout <= 0:
        return None

    def on_lag(lag: dict) -> None:
        state.lag = lag

    def on_stall(stalls: list) -> None:
        state.stalled = "; ".join(map(str, stalls))

    watchdog = Watchdog(
        settings=settings, group=settings.group("matcher"), topic=settings.topic("articles"),
        timeout_s=settings.stall_timeout, assigned=lambda: state.assigned, on_lag=on_lag, on_stall=on_stall,
    )
    watchdog.start()
    return watchdog


def load_rules_or_exit(rules_path: Path, reader: RuleFileReader | None = None) -> RuleSet:
    """The validated rule set, or every problem on stderr and exit status 1."""
    try:
        return load_rule_file(rules_path, reader=reader)
    except RuleFileError as exc:
        print(f"newsalert matcher: {rules_path} is not a valid rule file ({len(exc.problems)} problem(s)):", file=sys.stderr)
        for problem in exc.problems:
            print(problem.render(), file=sys.stderr)
        raise SystemExit(EXIT_BAD_RULES) from None
