"""`triggers:` checked at deploy: every issue with its path, the valid forms accepted."""

from __future__ import annotations

import pytest

from executors.runtime.package import PackageInvalid, load_package

BASE = """
name: t
version: "1"
service:
  path: t
  configuration:
    - {name: secret, type: password}
    - {name: broker}
    - {name: prefix}
processes:
  p:
    steps:
      - return: {}
triggers:
"""


def issues(triggers: str) -> list[tuple[str, str]]:
    with pytest.raises(PackageInvalid) as caught:
        load_package(BASE + triggers)
    return [(i.path, i.message) for i in caught.value.issues]


def test_every_kind_in_its_valid_forms_deploys_with_its_defaults() -> None:
    package = load_package(
        BASE
        + """
  - {name: hook, process: p, webhook: {secret: secret, async: true, body: raw}}
  - {name: open, process: p, webhook: {}}
  - {name: cron, process: p, schedule: {cron: "30 2 * * 1-5", timezone: Europe/Berlin}}
  - {name: tick, process: p, schedule: {every: 90s, missed: once}}
  - name: sub
    process: p
    subscribe: {broker: broker, subject: "{prefix}a.*", stream: S, dead_letter: "{prefix}dead"}
  - {name: kafka, process: p, subscribe: {broker: broker, topic: "{prefix}orders"}}
"""
    )
    hook, open_, cron, tick, sub, kafka = package.triggers
    assert kafka.subscribe is not None and kafka.subscribe.topic == "{prefix}orders"
    assert hook.webhook is not None and hook.webhook.respond_async and hook.webhook.body == "raw"
    assert open_.webhook is not None and open_.webhook.users and open_.webhook.secret == ""
    assert open_.webhook.replay_window_s == 300
    assert cron.schedule is not None and cron.schedule.timezone == "Europe/Berlin"
    assert tick.schedule is not None and tick.schedule.every_ms == 90_000
    assert sub.subscribe is not None
    assert (sub.subscribe.attempts, sub.subscribe.backoff_ms, sub.subscribe.concurrency) == (
        5,
        1000,
        4,
    )


@pytest.mark.parametrize(
    ("trigger", "path", "message"),
    [
        ("{name: a, process: nope, webhook: {}}", "triggers[0].process", "no process named 'nope'"),
        ("{name: a, process: p}", "triggers[0]", "exactly one of webhook, schedule, subscribe"),
        (
            "{name: a, process: p, webhook: {}, schedule: {every: 1s}}",
            "triggers[0]",
            "got webhook, schedule",
        ),
        ("{name: a, process: p, mail: {}}", "triggers[0].mail", "unknown key"),
        ("{name: 'a b', process: p, webhook: {}}", "triggers[0].name", "not a valid trigger name"),
        (
            "{name: a, process: p, webhook: {secret: nope}}",
            "triggers[0].webhook.secret",
            "no configuration value named 'nope'",
        ),
        (
            "{name: a, process: p, webhook: {users: false}}",
            "triggers[0].webhook",
            "nobody can call",
        ),
        ("{name: a, process: p, webhook: {body: xml}}", "triggers[0].webhook.body", "json, raw"),
        (
            "{name: a, process: p, webhook: {replay_window: 2h}}",
            "triggers[0].webhook.replay_window",
            "between 1 and 3600",
        ),
        (
            "{name: a, process: p, webhook: {max_body_bytes: 0}}",
            "triggers[0].webhook.max_body_bytes",
            "between 1 and",
        ),
        (
            "{name: a, process: p, schedule: {cron: '61 * * * *'}}",
            "triggers[0].schedule.cron",
            "not a valid cron",
        ),
        (
            "{name: a, process: p, schedule: {every: 500ms}}",
            "triggers[0].schedule.every",
            "between 1 and",
        ),
        (
            "{name: a, process: p, schedule: {every: soon}}",
            "triggers[0].schedule.every",
            "expected a duration",
        ),
        (
            "{name: a, process: p, schedule: {}}",
            "triggers[0].schedule",
            "exactly one of cron, every",
        ),
        (
            "{name: a, process: p, schedule: {every: 1s, timezone: Mars/Base}}",
            "triggers[0].schedule.timezone",
            "not a known time zone",
        ),
        (
            "{name: a, process: p, schedule: {every: 1s, missed: all}}",
            "triggers[0].schedule.missed",
            "skip, once",
        ),
        (
            "{name: a, process: p, subscribe: {subject: x}}",
            "triggers[0].subscribe",
            "missing required key 'broker'",
        ),
        (
            "{name: a, process: p, subscribe: {broker: broker}}",
            "triggers[0].subscribe",
            "exactly one of subject (NATS subject, RabbitMQ queue) or topic (Kafka)",
        ),
        (
            "{name: a, process: p, subscribe: {broker: broker, subject: x, topic: x}}",
            "triggers[0].subscribe",
            "exactly one of subject",
        ),
        (
            "{name: a, process: p, subscribe: {broker: broker, topic: x, stream: S}}",
            "triggers[0].subscribe.stream",
            "stream is NATS-only",
        ),
        (
            "{name: a, process: p, subscribe: {broker: broker, topic: 'orders.*'}}",
            "triggers[0].subscribe.topic",
            "not a Kafka topic name",
        ),
        (
            "{name: a, process: p, subscribe: {broker: nope, subject: x}}",
            "triggers[0].subscribe.broker",
            "no configuration value",
        ),
        (
            "{name: a, process: p, subscribe: {broker: broker, subject: '{tenant}.x'}}",
            "triggers[0].subscribe.subject",
            "unknown placeholder {tenant}",
        ),
        (
            "{name: a, process: p, subscribe: {broker: broker, subject: '{suffix}'}}",
            "triggers[0].subscribe.subject",
            "needs a configuration value named 'suffix'",
        ),
        (
            "{name: a, process: p, subscribe: {broker: broker, subject: 'a b'}}",
            "triggers[0].subscribe.subject",
            "not a valid subject",
        ),
        (
            "{name: a, process: p, subscribe: {broker: broker, subject: x, attempts: 0}}",
            "triggers[0].subscribe.attempts",
            "between 1 and 100",
        ),
        (
            "{name: a, process: p, subscribe: {broker: broker, subject: x, concurrency: 65}}",
            "triggers[0].subscribe.concurrency",
            "between 1 and 64",
        ),
        (
            "{name: a, process: p, subscribe: {broker: broker, subject: x, backoff: 2m}}",
            "triggers[0].subscribe.backoff",
            "between 0 and 60",
        ),
        (
            "{name: a, process: p, subscribe: {broker: broker, subject: x, attempts: many}}",
            "triggers[0].subscribe.attempts",
            "expected a whole number",
        ),
    ],
)
def test_a_bad_trigger_is_refused_at_deploy_naming_where(
    trigger: str, path: str, message: str
) -> None:
    found = issues(f"  - {trigger}\n")
    assert any(p == path and message in m for p, m in found), found


def test_trigger_names_are_unique() -> None:
    found = issues(
        "  - {name: a, process: p, webhook: {}}\n  - {name: a, process: p, webhook: {}}\n"
    )
    assert ("triggers[1].name", "duplicate trigger 'a'") in found


def test_a_process_run_only_by_a_trigger_is_not_warned_about_as_unused() -> None:
    from executors.runtime.deploy_warnings import package_warnings

    package = load_package(BASE + "  - {name: a, process: p, schedule: {every: 1m}}\n")
    assert not [w for w in package_warnings(package) if w.path == "processes.p"]


def test_a_package_has_at_most_100_triggers() -> None:
    many = "".join(f"  - {{name: t{i}, process: p, webhook: {{}}}}\n" for i in range(101))
    assert issues(many) == [("triggers", "at most 100 triggers per package, got 101")]
