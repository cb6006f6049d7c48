"""Duplicates and stories: URL identity, MinHash/sketch similarity, and the runner's groups
on a fixture set (our own articles, their copies, and hard negatives) through real storage."""

from __future__ import annotations

import itertools
import json
import pickle
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.exc import IntegrityError

from monitor import app as appmod
from monitor.config import load_settings
from monitor.models import GroupHead, LinkSubject
from monitor.pipeline import dedup, runner, story
from monitor.pipeline.runner import ImportRecord, import_articles
from monitor.storage import dedup_index
from monitor.storage.engine import Tx
from monitor.storage.prepared import Prepared
from monitor.storage.schema import (
    ArticleRow,
    BandRow,
    MatchRow,
    MentionRow,
    SignatureRow,
    StoryKeyRow,
    StoryRow,
)
from tests.conftest import REPO, Clock

FIXTURES = Path(__file__).parent / "fixtures" / "dedup"
MANIFEST: list[dict[str, Any]] = json.loads((FIXTURES / "manifest.json").read_text("utf-8"))
HARD_NEGATIVES = {"same-event", "shared-quote", "same-topic"}
P = dedup.DedupParams()


def fixture_text(rec: dict[str, Any]) -> str:
    text = (FIXTURES / rec["file"]).read_text(encoding="utf-8")
    return text.split("\n", int(rec.get("skip_lines", 0)))[-1]


def record(rec: dict[str, Any]) -> ImportRecord:
    return ImportRecord(
        url=rec["url"],
        title=rec["title"],
        text=fixture_text(rec),
        published_at=datetime.fromisoformat(rec["published_at"]),
        source=rec["source"],
    )


# --- tier 1: identity -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("https://Example.org:443/a/b?utm_source=x&id=3#top", "https://example.org/a/b?id=3"),
        ("https://m.example.org/news/1", "https://example.org/news/1"),
        ("https://mobile.example.co.uk/news/1", "https://example.co.uk/news/1"),
        ("https://amp.example.org/news/1", "https://example.org/news/1"),
        ("https://www.example.org/amp/news/1/", "https://www.example.org/news/1/"),
        ("https://www.example.org/news/1/amp", "https://www.example.org/news/1"),
        ("https://www.example.org/news/1?amp=1", "https://www.example.org/news/1"),
        ("https://www.example.org/news/1.amp.html", "https://www.example.org/news/1.html"),
        (
            "https://www-example-org.cdn.ampproject.org/c/s/www.example.org/news/1",
            "https://www.example.org/news/1",
        ),
        # not variants: a bare domain called amp, a word containing amp, a real query
        ("https://amp.dev/docs", "https://amp.dev/docs"),
        ("https://example.org/camp/ample", "https://example.org/camp/ample"),
        ("https://m.org/x", "https://m.org/x"),
        ("https://example.org/news?page=2", "https://example.org/news?page=2"),
    ],
)
def test_canonical_url(url: str, canonical: str) -> None:
    assert dedup.canonical_url(url) == canonical


@pytest.mark.parametrize(
    ("guid", "key"),
    [
        ("https://www.example.org/a?utm_medium=rss", "https://www.example.org/a"),
        ("tag:reuters.com,2026:newsml_L1N3AB0XY", "tag:reuters.com,2026:newsml_L1N3AB0XY"),
        ("12345", None),
        ("post-17", None),
        (None, None),
    ],
)
def test_guid_key(guid: str | None, key: str | None) -> None:
    assert dedup.guid_key(guid) == key


# --- tier 3: signatures ------------------------------------------------------------------


def by_kind(slug: str, kind: str) -> dict[str, Any]:
    return next(r for r in MANIFEST if r["group"] == slug and r["kind"] == kind)


def sig(rec: dict[str, Any]) -> dedup.Signature:
    s = dedup.signature(fixture_text(rec), P)
    assert s is not None
    return s


@pytest.mark.parametrize("slug", sorted({r["group"] for r in MANIFEST if r["kind"] == "original"}))
@pytest.mark.parametrize("kind", ["syndicated", "excerpt", "retitled"])
def test_copy_is_similar_and_shares_a_bucket(slug: str, kind: str) -> None:
    a, b = sig(by_kind(slug, "original")), sig(by_kind(slug, kind))
    sim = dedup.compare(a, b, P.sketch_size)
    if dedup.undecided(sim, P):
        sim = dedup.exact_compare(
            dedup.text_shingles(fixture_text(by_kind(slug, "original")), P),
            dedup.text_shingles(fixture_text(by_kind(slug, kind)), P),
        )
    assert dedup.is_duplicate(sim, P), sim
    assert set(a.band_keys) & set(b.band_keys)
    if kind == "excerpt":
        assert sim.containment >= P.duplicate_containment


def test_hard_negatives_are_not_duplicates() -> None:
    texts = [r for r in MANIFEST if r["kind"] in HARD_NEGATIVES | {"original"}]
    for x, y in itertools.combinations(texts, 2):
        sim = dedup.compare(sig(x), sig(y), P.sketch_size)
        assert not dedup.is_duplicate(sim, P), (x["file"], y["file"], sim)


def test_excerpt_detection_is_exact_for_a_true_excerpt() -> None:
    full = fixture_text(by_kind("pmf-law", "original"))
    paras = [p for p in full.split("\n") if len(p.split()) >= 20]
    for start in (0, 3, 10):  # lead, and middle parts the lead bands cannot see
        part = dedup.signature("\n".join(paras[start : start + 4]), P)
        assert part is not None
        sim = dedup.compare(sig(by_kind("pmf-law", "original")), part, P.sketch_size)
        assert dedup.undecided(sim, P) or sim.containment == 1.0
        exact = dedup.exact_compare(
            dedup.text_shingles(full, P),
            dedup.text_shingles("\n".join(paras[start : start + 4]), P),
        )
        assert exact.containment >= 0.9  # only the shingles across dropped short lines differ


def test_short_texts_have_no_signature() -> None:
    assert dedup.signature("Rockets hit a base.", P) is None


def test_signatures_are_stable_across_processes() -> None:
    # Stored keys must mean the same in every process: no salted hash() anywhere.
    s = dedup.signature("word " * 10 + " ".join(f"w{i}" for i in range(60)), P)
    assert s is not None
    assert s.shingles == 61 and len(s.band_keys) == P.bands + P.lead_bands
    assert (
        s.band_keys[0]
        == dedup.signature("word " * 10 + " ".join(f"w{i}" for i in range(60)), P).band_keys[0]
    )  # type: ignore[union-attr]


# --- through the runner and storage --------------------------------------------------------


@pytest.fixture
def make_app(tmp_path: Path, database_url: str) -> Iterator[Any]:
    apps: list[appmod.App] = []

    def build(clock: Clock | None = None) -> appmod.App:
        cfg = {
            "database": database_url,
            "entities": str(REPO / "config" / "entities.yaml"),
            "reports_dir": str(tmp_path / "reports"),
        }
        path = tmp_path / "monitor.yaml"
        path.write_text(json.dumps(cfg), encoding="utf-8")
        app = appmod.build(load_settings(path), clock=clock or Clock(), workers=1)
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.close()


def groups(app: appmod.App, records: list[dict[str, Any]]) -> dict[str, tuple[int, int, int]]:
    """file+url of each record -> (article id, group original id, story id)."""
    out = {}
    with app.db.session() as s:
        for rec in records:
            row = s.scalars(
                select(ArticleRow).where(
                    ArticleRow.canonical_url == dedup.canonical_url(rec["url"])
                )
            ).one()
            assert row.story_id is not None
            out[rec["url"]] = (row.id, row.duplicate_of_id or row.id, row.story_id)
    return out


def pairwise(truth: list[str], predicted: list[int]) -> tuple[float, float, float]:
    tp = fp = fn = 0
    for (t1, p1), (t2, p2) in itertools.combinations(zip(truth, predicted, strict=True), 2):
        same_t, same_p = t1 == t2, p1 == p2
        tp += same_t and same_p
        fp += same_p and not same_t
        fn += same_t and not same_p
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def test_fixture_set_precision_and_recall(
    make_app: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    app = make_app()
    import_articles(app.ctx, [record(r) for r in MANIFEST])
    got = groups(app, MANIFEST)
    dup = pairwise([r["group"] for r in MANIFEST], [got[r["url"]][1] for r in MANIFEST])
    story = pairwise([r["story"] for r in MANIFEST], [got[r["url"]][2] for r in MANIFEST])
    with capsys.disabled():
        print(
            f"\ndedup fixture ({len(MANIFEST)} records): duplicates P={dup[0]:.3f} R={dup[1]:.3f}"
            f" F1={dup[2]:.3f}; stories P={story[0]:.3f} R={story[1]:.3f} F1={story[2]:.3f}"
        )
    assert dup[2] >= 0.95
    for neg in (r for r in MANIFEST if r["kind"] in HARD_NEGATIVES):
        alone = [r for r in MANIFEST if got[r["url"]][1] == got[neg["url"]][1]]
        assert alone == [neg], f"hard negative {neg['file']} marked duplicate of {alone}"
    # the earliest published member is every group's original
    for slug in {r["group"] for r in MANIFEST}:
        members = [r for r in MANIFEST if r["group"] == slug]
        first = min(members, key=lambda r: (r["published_at"], dedup.canonical_url(r["url"])))
        assert got[first["url"]][0] == got[first["url"]][1]
    assert story[0] >= 0.9 and story[1] >= 0.8


def clear(app: appmod.App) -> None:
    with app.db.session() as s:
        for table in (StoryKeyRow, BandRow, SignatureRow, MentionRow, MatchRow):
            s.execute(delete(table))
        s.execute(ArticleRow.__table__.update().values(duplicate_of_id=None))
        s.execute(delete(ArticleRow))
        s.execute(delete(StoryRow))


def test_every_processing_order_gives_the_same_original(make_app: Any) -> None:
    kinds = ("original", "syndicated", "excerpt", "earlier-copy")
    group = [r for r in MANIFEST if r["group"] == "airport-memorial" and r["kind"] in kinds]
    assert len(group) == 4
    expected = min(group, key=lambda r: r["published_at"])
    assert expected["kind"] == "earlier-copy"
    app = make_app()
    for order in itertools.permutations(group):
        clear(app)
        import_articles(app.ctx, [record(r) for r in order])
        got = groups(app, group)
        assert {g[1] for g in got.values()} == {got[expected["url"]][0]}, [r["kind"] for r in order]
        assert len({g[2] for g in got.values()}) == 1
        with app.db.session() as s:
            assert s.scalar(select(func.count()).select_from(StoryRow)) == 1


def test_index_is_in_the_database_and_survives_a_restart(make_app: Any) -> None:
    original = by_kind("treasury-fronts", "original")
    first = make_app()
    import_articles(first.ctx, [record(original)])
    with first.db.session() as s:
        keys = sig(original).band_keys
        assert s.scalar(select(func.count()).select_from(BandRow)) == len(keys) > P.bands
    first.close()
    second = make_app()  # a new process would see the same rows
    import_articles(second.ctx, [record(by_kind("treasury-fronts", "excerpt"))])
    got = groups(second, [original, by_kind("treasury-fronts", "excerpt")])
    assert len({g[1] for g in got.values()}) == 1


def test_story_window_closes(make_app: Any) -> None:
    clock = Clock()
    app = make_app(clock)
    asad = [r for r in MANIFEST if r["story"] == "asad-attack"]
    filler = [r for r in MANIFEST if r["kind"] == "original"]
    later = dict(asad[1])
    later["published_at"] = (
        datetime.fromisoformat(asad[0]["published_at"]) + P.story_window + timedelta(days=1)
    ).isoformat()
    import_articles(app.ctx, [record(r) for r in [*filler, asad[0], later]])
    got = groups(app, [asad[0], later])
    assert got[asad[0]["url"]][2] != got[later["url"]][2]


def test_copy_is_kept_and_counted(make_app: Any) -> None:
    app = make_app()
    recs = [by_kind("pmf-law", k) for k in ("original", "syndicated", "retitled")]
    report = import_articles(app.ctx, [record(r) for r in recs])
    assert report.processed == 3 and report.duplicates == 2
    with app.db.session() as s:
        rows = s.scalars(select(ArticleRow)).all()
        assert len(rows) == 3 and {r.source_name for r in rows} == {r["source"] for r in recs}


def page(canonical: str, words: str) -> str:
    body = "".join(f"<p>{words} paragraph {i} of the report, told once more.</p>" for i in range(8))
    return (
        f'<html><head><title>T</title><link rel="canonical" href="{canonical}"></head>'
        f"<body><article><h1>Report</h1>{body}</article></body></html>"
    )


@pytest.mark.parametrize("amp_first", [False, True])
def test_page_canonical_links_either_way_round(
    make_app: Any, amp_first: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dedup, "signature", lambda text, p: None)  # identity tier only
    when = datetime(2026, 11, 20, 8, tzinfo=UTC)
    main = ImportRecord(
        url="https://example.org/story",
        html=page("https://example.org/story", "The main page says rockets hit the base"),
        published_at=when,
        source="Main",
    )
    # a mirror whose text differs (another template), naming the main page as canonical
    mirror = ImportRecord(
        url="https://mirror.example.net/p?id=9",
        html=page("https://example.org/story", "Mirror copy: a wholly different rendering here"),
        published_at=when + timedelta(hours=1),
        source="Mirror",
    )
    app = make_app()
    import_articles(app.ctx, [mirror, main] if amp_first else [main, mirror])
    got = groups(app, [{"url": main.url}, {"url": mirror.url}])
    assert got[mirror.url][1] == got[main.url][0]
    assert got[mirror.url][2] == got[main.url][2]


@pytest.mark.parametrize("precomputed", [True, False])
def test_a_signature_computed_elsewhere_links_the_same(make_app: Any, precomputed: bool) -> None:
    """An extraction worker may compute the signature: it pickles, and linking with it (or
    with None, for a text too short) is linking as if the runner had computed it."""
    original, copy = by_kind("pmf-law", "original"), by_kind("pmf-law", "syndicated")
    app = make_app()
    import_articles(app.ctx, [record(original)])
    text = fixture_text(copy)
    given = pickle.loads(pickle.dumps(dedup.signature(text, P))) if precomputed else None
    with app.db.session() as s:
        row = ArticleRow(
            source_name=copy["source"],
            url=copy["url"],
            canonical_url=dedup.canonical_url(copy["url"]),
            text=text,
            text_hash=dedup.text_fingerprint(text),
            discovered_at=datetime.fromisoformat(copy["published_at"]),
            published_at=datetime.fromisoformat(copy["published_at"]),
            state="processed",
        )
        s.add(row)
        s.flush()
        subject = LinkSubject(
            id=row.id,
            url=row.url,
            canonical_url=row.canonical_url,
            guid=None,
            title=copy["title"],
            text=text,
            text_hash=row.text_hash,
            at=row.published_at,
        )
        keys = story.article_story_keys(copy["title"], text, (), P)
        runner.link(P, Tx(s), subject, datetime.now(UTC), sig=given, keys=keys)
        first = s.scalars(select(ArticleRow).where(ArticleRow.id != row.id)).one()
        bands = s.scalar(select(func.count()).where(BandRow.article_id == row.id))
        if precomputed:  # found as a near duplicate, and indexed
            assert row.duplicate_of_id == first.id and bands == len(sig(copy).band_keys)
        else:  # no signature: neither a near-duplicate lookup nor bands
            assert row.duplicate_of_id is None and bands == 0
        assert row.story_id is not None


# --- speed-ups that must not change a result ----------------------------------------------


@pytest.mark.parametrize(("num_perm", "seed"), [(96, 1), (24, 2)])
def test_vectorised_minhash_is_datasketchs(num_perm: int, seed: int) -> None:
    """Stored band keys stay valid: the vectorised MinHash equals datasketch's, bit for bit."""
    from datasketch import MinHash  # type: ignore[import-untyped]

    texts = [fixture_text(r) for r in MANIFEST[:8]]
    sets = [dedup.text_shingles(t, P) for t in texts]
    rng = np.random.default_rng(5)
    sets += [
        np.unique(rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32))
        for n in (1, 7, 3000)
    ]
    for hashes in sets:
        m = MinHash(
            num_perm=num_perm,
            seed=seed,
            hashfunc=int,
            scheme="affine32",
            permutations=dedup._permutations(num_perm, seed),
        )
        m.update_batch(hashes.tolist())
        expected = np.asarray(m.hashvalues, dtype=np.uint32)
        assert np.array_equal(dedup._minhash(hashes, num_perm, seed), expected)


@pytest.mark.parametrize("share", [0.2, 0.05, 0.5])
def test_keys_counted_only_to_the_rare_cap_give_the_vector_full_counts_give(share: float) -> None:
    """The runner counts each key in the window only to one past the rare cap (a busy
    window's common keys would otherwise cost a long index range each): the vector is the
    one full counts give."""
    p = dedup.DedupParams(story_max_key_share=share)
    rng = np.random.default_rng(11)
    for _ in range(3000):
        window = int(rng.choice([0, 5, 9, 10, 11, 50, 400, 1999, 2000]))
        window = max(0, window + int(rng.integers(-3, 4)))
        tf = {k: int(rng.integers(1, 4)) for k in range(1, int(rng.integers(2, 9)))}
        df = {k: int(rng.integers(0, max(window, 1) + 1)) for k in tf}
        cap = story.rare_cap(window, p)
        counted = {k: min(n, cap + 1) for k, n in df.items()}
        full = story.story_vector(tf, df, window, p)
        assert story.story_vector(tf, counted, window, p) == full, (window, tf, df)
        assert all(df[k] <= cap for k in full)
        assert not full or abs(sum(w * w for w in full.values()) - 1) < 1e-9


def test_cursor_statements_read_and_fail_as_sqlalchemy_does(make_app: Any) -> None:
    """The dedup step's statements run on the DBAPI cursor (`storage.prepared.Prepared`): datetimes
    come back aware, sketches as bytes, and a database error as SQLAlchemy's exception."""
    app = make_app()
    rec = by_kind("pmf-law", "original")
    import_articles(app.ctx, [record(rec)])
    sketches = Prepared(
        select(SignatureRow.shingles, SignatureRow.sketch).where(
            SignatureRow.article_id == bindparam("id")
        )
    )
    with app.db.session() as s:
        row = s.scalars(select(ArticleRow)).one()
        heads = dedup_index.group_heads(Tx(s), [row.id])
        assert heads == [GroupHead(row.published_at, row.canonical_url, row.id, None)]
        assert heads[0].at.utcoffset() == timedelta(0)
        assert sketches.rows(s, {"id": row.id}) == [(sig(rec).shingles, sig(rec).sketch)]
    with pytest.raises(IntegrityError), app.db.transaction() as tx:  # its rows again
        dedup_index.index(tx, row.id, sig(rec), (), {}, row.published_at, P)


@pytest.mark.parametrize("limit", [1, 3, 401])
def test_window_counts_are_plain_counts_capped(make_app: Any, limit: int) -> None:
    """The window's key counts (one statement for 16 keys) are what a plain count of each
    key's rows in the window says, capped at `limit`; absent keys are left out."""
    app = make_app()
    import_articles(app.ctx, [record(r) for r in MANIFEST])
    with app.db.session() as s:
        keys = [*s.scalars(select(StoryKeyRow.key).distinct().order_by(StoryKeyRow.key)), 12345]
        me = s.scalars(select(ArticleRow.id)).first()
        at = min(s.scalars(select(StoryKeyRow.at)))
        window = (at, at + P.story_window, me)
        got = dedup_index.key_counts(Tx(s), keys, window[0], window[1], limit, exclude=me)
        expected = {}
        for k in keys:
            n = s.scalar(
                select(func.count()).where(
                    StoryKeyRow.key == k,
                    StoryKeyRow.at >= window[0],
                    StoryKeyRow.at <= window[1],
                    StoryKeyRow.article_id != me,
                )
            )
            if n:
                expected[k] = min(n, limit)
        assert got == expected and len(got) > 3
