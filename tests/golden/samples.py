"""Inputs of the golden files and the delivery tests: a morning, an empty day, hostile input."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from monitor.models import (
    ActorChip,
    ActorTrend,
    DigestArticle,
    DigestContent,
    MatchedPart,
    OtherReport,
    SourceHealth,
    UndeliveredDigest,
)

KH = ActorChip("kataib-hezbollah", "Kata'ib Hezbollah", "armed_group", 3)
PMF = ActorChip("pmf", "Popular Mobilization Forces", "state_org", 1)
IRGC = ActorChip("irgc-qf", "IRGC Quds Force", "state_org", 2)
US = ActorChip("united-states", "United States", "country", 4)
MUHANDIS = ActorChip("abu-mahdi-al-muhandis", "Abu Mahdi al-Muhandis", "person", 1)
ASAD = ActorChip("al-asad-air-base", "Al Asad Air Base", "place", 2)
AAH = ActorChip("asaib-ahl-al-haq", "Asaib Ahl al-Haq", "armed_group", 1)

# Originals per actor published in the period against the week before; 14 days of daily
# counts ending with the period's day. Countries and places are in their own row.
TRENDS = (
    ActorTrend("kataib-hezbollah", KH.name, KH.type, 3, 0.6, True,
               (0, 1, 0, 0, 2, 1, 0, 0, 1, 0, 0, 1, 0, 3)),
    ActorTrend("united-states", US.name, US.type, 3, 2.9, False,
               (2, 3, 4, 2, 3, 1, 3, 4, 2, 3, 2, 4, 3, 3)),
    ActorTrend("al-asad-air-base", ASAD.name, ASAD.type, 3, 0.3, True,
               (0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 3)),
    ActorTrend("pmf", PMF.name, PMF.type, 1, 1.4, False,
               (1, 2, 1, 1, 2, 1, 2, 1, 1, 2, 1, 1, 2, 1)),
    ActorTrend("irgc-qf", IRGC.name, IRGC.type, 1, 0.9, False,
               (1, 0, 1, 1, 0, 2, 1, 0, 1, 1, 0, 1, 1, 1)),
    ActorTrend("abu-mahdi-al-muhandis", MUHANDIS.name, MUHANDIS.type, 1, 0.7, False,
               (0, 1, 1, 0, 0, 1, 0, 1, 0, 1, 0, 0, 1, 1)),
    ActorTrend("asaib-ahl-al-haq", AAH.name, AAH.type, 2, 1.1, False,
               (1, 0, 0, 1, 1, 0, 0, 1, 0, 2, 1, 0, 1, 2)),
)  # fmt: skip


def morning() -> DigestContent:
    return DigestContent(
        watchlist="iraq-militias",
        query='type:armed_group AND (Iran OR "United States" OR US)',
        period_start=datetime(2026, 11, 30, 4, 0, tzinfo=UTC),
        period_end=datetime(2026, 12, 1, 4, 0, tzinfo=UTC),
        timezone="Asia/Baghdad",
        generated_at=datetime(2026, 12, 1, 4, 0, 12, tzinfo=UTC),
        articles=(
            DigestArticle(
                url="https://example.org/2026/12/01/rockets-al-asad",
                title="Rockets hit Al Asad Air Base; Kataib Hezbollah denies role",
                source="Long War Journal",
                published_at=datetime(2026, 11, 30, 21, 15, tzinfo=UTC),
                matched_at=datetime(2026, 11, 30, 21, 40, tzinfo=UTC),
                snippet=(
                    "Three rockets struck near Al Asad Air Base late on Sunday. Kata'ib "
                    "Hezbollah, which the United States blames for earlier attacks, said it "
                    "had no part in the strike & called for US troops to leave."
                ),
                actors=(KH, US, ASAD),
                matched_terms=("armed_group", "United States", "US"),
                also_reported_by=(
                    OtherReport(
                        "Reuters",
                        "https://example.com/world/iraq-rockets",
                        "Rockets hit Iraqi base",
                        published_at=datetime(2026, 11, 30, 22, 5, tzinfo=UTC),
                        matched_at=datetime(2026, 11, 30, 22, 20, tzinfo=UTC),
                    ),
                    OtherReport(
                        "Al-Monitor",
                        "https://example.net/originals/asad",
                        "Asad base attacked",
                        published_at=datetime(2026, 12, 1, 1, 30, tzinfo=UTC),
                        matched_at=datetime(2026, 12, 1, 1, 45, tzinfo=UTC),
                    ),
                ),
                story_id=41,
                matched_on=(
                    MatchedPart("type", "armed_group", ("Kata'ib Hezbollah",)),
                    MatchedPart("word", "United States"),
                    MatchedPart("word", "US"),
                ),
            ),
            DigestArticle(
                url="https://example.org/analysis/pmf-budget",
                title="Parliament debates PMF budget as Iran ties come under scrutiny",
                source="الشرق الأوسط",
                published_at=None,
                matched_at=datetime(2026, 12, 1, 2, 5, tzinfo=UTC),
                snippet=(
                    "Lawmakers argued over salaries for the Popular Mobilization Forces, the "
                    "umbrella that includes groups close to Iran and to Abu Mahdi al-Muhandis's "
                    "former network."
                ),
                actors=(MUHANDIS, PMF, IRGC),
                matched_terms=("Iran",),
                story_id=42,
                status="update",
                earlier_reports=2,
                matched_on=(MatchedPart("word", "Iran"),),
            ),
        ),
        actor_trends=TRENDS,
        total_reports=4,
        total_stories=2,
        failing_sources=(
            SourceHealth(
                name="Iraqi News Agency",
                url="https://ina.example.iq/rss",
                error_count=4,
                last_error="HTTP 503 Service Unavailable",
                next_check_at=datetime(2026, 12, 1, 5, 0, tzinfo=UTC),
            ),
        ),
    )


def alert() -> DigestContent:
    """An alert batch: one story, two reports, matched within the same minute."""
    first = morning().articles[0]
    return DigestContent(
        watchlist="iraq-militias",
        query="entity:kataib-hezbollah AND (rocket* OR drone*)",
        period_start=datetime(2026, 11, 30, 21, 40, 5, tzinfo=UTC),
        period_end=datetime(2026, 11, 30, 21, 40, 50, tzinfo=UTC),
        timezone="Asia/Baghdad",
        generated_at=datetime(2026, 11, 30, 21, 51, tzinfo=UTC),
        articles=(
            dataclasses.replace(
                first,
                matched_terms=("kataib-hezbollah", "Rockets", "rockets"),
                also_reported_by=first.also_reported_by[:1],
                matched_on=(
                    MatchedPart("entity", "kataib-hezbollah", ("Kata'ib Hezbollah",)),
                    MatchedPart("word", "Rockets"),
                ),
            ),
        ),
        total_reports=2,
        total_stories=1,
        kind="alert",
    )


def empty() -> DigestContent:
    return DigestContent(
        watchlist="us-iran",
        query="entity:irgc-qf AND (sanctions OR embassy)",
        period_start=datetime(2026, 11, 30, 7, 0, tzinfo=UTC),
        period_end=datetime(2026, 12, 1, 7, 0, tzinfo=UTC),
        timezone="UTC",
        articles=(),
        # The week before had mentions; an empty period still stays a short note.
        actor_trends=(
            ActorTrend("irgc-qf", IRGC.name, IRGC.type, 0, 1.2, False, (1,) * 13 + (0,)),
        ),
        undelivered=(
            UndeliveredDigest(
                period_start=datetime(2026, 11, 29, 7, 0, tzinfo=UTC),
                period_end=datetime(2026, 11, 30, 7, 0, tzinfo=UTC),
                error="SMTP 127.0.0.1:25: message refused: 552 5.3.4 message too big",
            ),
        ),
    )


EVIL_URL = "javascript:alert(document.cookie)"


def hostile() -> DigestContent:
    return DigestContent(
        watchlist="evil\r\nBcc: victim@example.org",
        query="<script>alert(1)</script>",
        period_start=datetime(2026, 11, 30, 7, 0, tzinfo=UTC),
        period_end=datetime(2026, 12, 1, 7, 0, tzinfo=UTC),
        timezone="UTC",
        articles=(
            DigestArticle(
                url=EVIL_URL,
                title='<script>alert("t")</script> Militia\r\nBcc: victim@example.org',
                source='<img src=x onerror="alert(1)">',
                published_at=None,
                matched_at=datetime(2026, 12, 1, 6, 0, tzinfo=UTC),
                snippet='Militia <b onmouseover="x()">bold</b> [link](javascript:alert(1)) =cmd|x',
                actors=(ActorChip("x", '<i>"chip"</i>', 'armed_group" onclick="x', 1),),
                matched_terms=("militia", "<b", "script"),
                also_reported_by=(
                    OtherReport("Evil", " \tjava\nscript:alert(2)", "<t>"),
                    OtherReport("Data", "data:text/html,<script>alert(3)</script>", "d"),
                    OtherReport("Ok", 'https://example.com/a?x=1&y="2"', "fine"),
                ),
            ),
        ),
        failing_sources=(
            SourceHealth("<b>src</b>", "vbscript:msgbox", 1, "<script>err</script>\r\nX: y", None),
        ),
        actor_trends=(
            ActorTrend(
                "x",
                '<script>alert("n")</script> $x$ _y',
                'armed_group" onclick="x',
                2,
                0.5,
                True,
                (0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2),
            ),
        ),
    )
