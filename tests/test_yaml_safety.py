"""The config reader on hostile and broken YAML: plain data, or a `file:line` ConfigError.

Hypothesis round-trips generated data and mutates real config files; explicit regressions for
alias bombs, recursive aliases, unknown tags, deep nesting and collections used as keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor import cli
from monitor.config import load_entities, load_settings
from monitor.config.yamldoc import MAX_ALIAS_VALUES, MAX_DEPTH, read_yaml
from monitor.errors import ConfigError
from tests.conftest import REPO

SETTINGS = settings(max_examples=500, deadline=None, database=None)
LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

CONFIG = """\
database: sqlite:///data/monitor.db
entities: entities.yaml
sources:
  - {name: Wire, url: "https://example.org/feed.xml", interval: 15m}
watchlists:
  - name: militias
    query: 'type:armed_group AND (Iran OR "United States")'
    digest: &digest
      schedule: "0 7 * * *"
      timezone: Asia/Baghdad
      recipients: [analyst@example.org]
  - name: us-iran
    query: 'Iran NEAR/5 (drone* OR strike*)'
    digest: *digest
  - name: late
    query: militia*
    digest:
      <<: *digest
      schedule: "0 9 * * *"
"""
ENTITIES = """\
entities:
- id: kataib-hezbollah
  name: Kataib Hezbollah
  type: armed_group
  aliases: [Kata'ib Hezbollah, كتائب حزب الله]
  acronyms: [KH]
  affiliations:
    backed_by: [iran]
  notes: >-
    Two lines of
    notes.
- {id: iran, name: Iran, type: country, aliases: [Iranian]}
"""


def write(tmp_path: Path, text: str, name: str = "monitor.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def refused(path: Path, reader: Any = read_yaml) -> ConfigError:
    """The ConfigError reading `path` gives; it must name the file and a line in it."""
    with pytest.raises(ConfigError) as info:
        reader(path)
    err = info.value
    assert err.file == str(path)
    lines = path.read_text(encoding="utf-8").count("\n") + 1
    assert err.line is not None and 1 <= err.line <= lines, str(err)
    assert str(err).startswith(f"{path}:{err.line}: ")
    return err


# --- generated documents -------------------------------------------------------------------------

text_values = st.text(max_size=12).filter(lambda s: "${" not in s)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False),
    st.dates(),
    text_values,
)
data = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(text_values, inner, max_size=4)
    ),
    max_leaves=25,
)


def paths(value: Any, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += paths(v, (*prefix, i))
    return out


@SETTINGS
@given(data, st.booleans(), st.booleans())
def test_dumped_data_reads_as_pyyaml_reads_it_with_a_line_for_every_path(
    tmp_path_factory: pytest.TempPathFactory, value: Any, flow: bool, unicode: bool
) -> None:
    text = yaml.safe_dump(value, default_flow_style=flow, allow_unicode=unicode, sort_keys=False)
    path = write(tmp_path_factory.mktemp("dump"), text, "doc.yaml")
    doc = read_yaml(path)
    # PyYAML's own reading is the reference (it does not read back every string it writes:
    # a lone U+0085 comes back as a space).
    assert doc.data == yaml.load(text, Loader=LOADER)
    lines = len(text.splitlines()) + 1  # YAML's line breaks include U+0085 and U+2028
    for p in paths(doc.data):
        line = doc.line_of(p)
        assert line is not None and 1 <= line <= lines, (p, line)


PIECES = ["[", "]", "{", "}", ":", ": ", "- ", "\n", "  ", "\t", ",", "'", '"', "#", "? ", "|"]
PIECES += ["&a ", "*a", "&b ", "*b", "<<: ", "<<: *a", "!!str ", "!!int ", "!!python/object:x "]
PIECES += ["!foo ", "!!binary ", "!!set ", "---\n", "...\n", "%YAML 1.1\n", "null", "~", "0x1F"]
PIECES += ["2024-13-45", "1e999", "\x07", "\ufeff", "\u2028", "é", "كتائب", "=", "yes", "on"]
PIECES += ["watchlists: ", "sources: ", "entities: ", "query: ", "(a", '"', "[" * 60, "\\U1e9"]


@st.composite
def mutated(draw: st.DrawFn, base: str) -> str:
    chars = list(base)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(chars)))
        cut = draw(st.integers(0, 6))
        chars[at : at + cut] = draw(st.sampled_from(PIECES))
    return "".join(chars)


def _reference(text: str) -> Any:
    try:
        return yaml.load(text, Loader=LOADER)
    except Exception:
        return "unreadable"


@SETTINGS
@given(st.one_of(mutated(CONFIG), mutated(ENTITIES), data.map(yaml.safe_dump).flatmap(mutated)))
def test_mutated_yaml_is_data_or_a_file_line_error(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    path = write(tmp_path_factory.mktemp("mutated"), text, "doc.yaml")
    try:
        doc = read_yaml(path)
    except ConfigError as err:
        assert err.file == str(path)
        # YAML counts U+2028, U+0085 and a lone CR as line breaks too, as splitlines does.
        assert err.line is None or 1 <= err.line <= len(text.splitlines()) + 1, str(err)
        return
    reference = _reference(text)
    if reference != "unreadable" and "nan" not in text:
        assert doc.data == ({} if reference is None and not doc.lines else reference)


@settings(max_examples=250, deadline=None, database=None)
@given(st.sampled_from(["config", "entities"]), st.data())
def test_mutated_config_and_entities_load_or_give_a_config_error(
    tmp_path_factory: pytest.TempPathFactory, kind: str, data_: st.DataObject
) -> None:
    text = data_.draw(mutated(CONFIG if kind == "config" else ENTITIES))
    folder = tmp_path_factory.mktemp("cfg")
    write(folder, ENTITIES, "entities.yaml")
    path = write(folder, text)
    try:
        (load_settings if kind == "config" else load_entities)(path)
    except ConfigError as err:
        assert err.file is not None and Path(err.file).parent == folder, str(err)


# --- regressions -------------------------------------------------------------------------------

LAUGHS = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9) if prev else ', '.join(['lol'] * 9)}]\n"
    for prev, name in zip(["", *"abcdefgh"], "abcdefghi", strict=True)
)


def test_billion_laughs_is_refused_after_the_alias_budget(tmp_path: Path) -> None:
    # 9 ** 9 strings once (47 s, 410 MB in `monitor check`); now it stops at line 5 of 9,
    # where the aliases first add more than MAX_ALIAS_VALUES values.
    path = write(tmp_path, LAUGHS)
    assert len(LAUGHS.encode()) < 400
    err = refused(path)
    assert f"aliases expand to more than {MAX_ALIAS_VALUES:,} values" in str(err)
    assert err.line == 5


def test_billion_laughs_in_monitor_check_is_exit_2_with_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "database: sqlite:///x.db\n" + LAUGHS)
    assert cli.main(["--config", str(path), "check"]) == 2
    assert capsys.readouterr().err.startswith(f"{path}:6: aliases expand")


def test_a_large_value_aliased_once_counts_in_full(tmp_path: Path) -> None:
    items = ", ".join(str(i) for i in range(MAX_ALIAS_VALUES))
    assert "aliases expand" in str(refused(write(tmp_path, f"a: &a [{items}]\nb: *a\n")))


def test_aliases_within_the_budget_read_as_their_values(tmp_path: Path) -> None:
    text = "base: &b {x: 1, y: [a, b]}\none: *b\ntwo:\n  <<: *b\n  y: 3\nlist: [*b, *b]\n"
    doc = read_yaml(write(tmp_path, text))
    assert doc.data == yaml.safe_load(text)
    assert doc.data["two"] == {"x": 1, "y": 3}
    assert doc.line_of(("one", "y", 0)) == 2  # inside an alias: the line of the alias


def test_anchors_and_merge_keys_in_a_real_config(tmp_path: Path) -> None:
    write(tmp_path, ENTITIES, "entities.yaml")
    militias, us_iran, late = load_settings(write(tmp_path, CONFIG)).watchlists
    assert us_iran.digest == militias.digest
    assert (late.digest.schedule, late.digest.timezone) == ("0 9 * * *", "Asia/Baghdad")
    bad = CONFIG.replace("timezone: Asia/Baghdad", "timezone: Mars/Olympus")
    err = refused(write(tmp_path, bad, "bad.yaml"), load_settings)
    assert "unknown timezone" in str(err) and err.line == 10


RECURSIVE = [
    ("a: &a [1, *a]\n", 1),
    ("a: &a\n  b: *a\n", 2),
    ("a: &a\n  - x\n  - {b: [*a]}\n", 3),
    ("a: &a\n  <<: *a\n", 2),
    ("&a [*a]\n", 1),
]


@pytest.mark.parametrize(("text", "line"), RECURSIVE, ids=[t for t, _ in RECURSIVE])
def test_a_recursive_alias_is_refused(tmp_path: Path, text: str, line: int) -> None:
    err = refused(write(tmp_path, text))
    assert "recursive" in str(err)
    assert err.line == line


TAGS = [
    ("a: !!python/object:os.system {}\n", "!!python/object:os.system"),
    ('a: !!python/object/apply:os.system ["true"]\n', "!!python/object/apply:os.system"),
    ("a: !!python/name:os.system ''\n", "!!python/name:os.system"),
    ("a: !foo bar\n", "!foo"),
    ("a: !!binary aGVsbG8=\n", "!!binary"),
    ("a: !!set {x, y}\n", "!!set"),
    ("a: !!omap [x: 1]\n", "!!omap"),
]


@pytest.mark.parametrize(("text", "tag"), TAGS, ids=[t for _, t in TAGS])
def test_an_unknown_tag_is_refused(tmp_path: Path, text: str, tag: str) -> None:
    err = refused(write(tmp_path, "x: 1\n" + text))
    assert f"unknown tag {tag}:" in str(err)
    assert err.line == 2


def test_standard_tags_still_read(tmp_path: Path) -> None:
    text = "a: !!str 12\nb: !!int '7'\nc: !!float 1\nd: !!bool yes\ne: !!null ''\nf: ! 12\n"
    assert read_yaml(write(tmp_path, text)).data == yaml.safe_load(text)


@pytest.mark.parametrize("style", ["flow", "block"])
def test_nesting_deeper_than_the_limit_is_refused(tmp_path: Path, style: str) -> None:
    def nested(n: int) -> str:
        if style == "flow":
            return "a: " + "[" * n + "x" + "]" * n + "\n"
        return "".join("  " * i + f"k{i}:\n" for i in range(n + 1)) + "  " * (n + 1) + "x\n"

    assert read_yaml(write(tmp_path, nested(MAX_DEPTH - 1), "ok.yaml")).data
    err = refused(write(tmp_path, nested(MAX_DEPTH)))
    assert f"nest more than {MAX_DEPTH} deep" in str(err)
    assert err.line == (1 if style == "flow" else MAX_DEPTH + 1)
    if style == "flow":
        refused(write(tmp_path, nested(100_000), "deeper.yaml"))


KEYS = [
    ("? {a: 1}\n: x\n", 1),
    ("? - a\n: x\n", 1),
    ("{[a, b]: 1}\n", 1),
    ("m: &m {x: 1}\n*m : 2\n", 2),
    ("a:\n  ? [x]\n  : 1\n", 2),
    ("? !!python/tuple [1, 2]\n: a\n", 1),
]


@pytest.mark.parametrize(("text", "line"), KEYS, ids=[t for t, _ in KEYS])
def test_a_list_or_mapping_as_a_key_is_refused(tmp_path: Path, text: str, line: int) -> None:
    err = refused(write(tmp_path, text))
    assert "a key must be text, not a list or a mapping" in str(err)
    assert err.line == line


OTHER = [
    ("a: *nope\n", 1, "no anchor &nope"),
    ("a: 1\n---\nb: 2\n", 2, "a second YAML document"),
    ("a: 1\nb: x\x07y\n", 2, "U+0007 is not allowed"),
    ("a: 1\nb: 2024-13-45\n", 2, "not a valid timestamp"),
    ("a: !!int\n", 1, "not a valid int"),
    ("a: " + "9" * 5000 + "\n", 1, "not a valid int"),
    ("a: 1\na: 2\n", 2, "duplicate key 'a'"),
    ("a:\n  <<: 5\n", 2, "'<<' merges mappings"),
    ("a: [1, 2\n", 2, "YAML syntax error"),
    ("\ta: 1\n", 1, "found character '\\t' that cannot start any token"),
    ('"\\U1e999000": 1\n', 1, "invalid Unicode character escape"),  # PyYAML: chr() ValueError
]


@pytest.mark.parametrize(("text", "line", "message"), OTHER, ids=[m for _, _, m in OTHER])
def test_other_bad_yaml_is_a_file_line_error(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    err = refused(write(tmp_path, text))
    assert message in str(err)
    assert err.line == line


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("database: sqlite:///x.db\nwatchlists: {name: a, query: b}\n", 2),
        ("database: sqlite:///x.db\nwatchlists: 5\n", 2),
    ],
)
def test_watchlists_that_are_not_a_list_are_a_config_error(
    tmp_path: Path, text: str, line: int
) -> None:
    err = refused(write(tmp_path, text), load_settings)
    assert "must be a list" in str(err) and err.line == line


def test_shipped_lists_read_as_a_plain_safe_load_reads_them() -> None:
    for name in ("entities.yaml", "concepts.yaml"):
        path = REPO / "config" / name
        if path.exists():
            text = path.read_text(encoding="utf-8")
            assert read_yaml(path).data == yaml.safe_load(text), name
