"""The fast YAML paths (line by line; libyaml events) give exactly what the full loader gives.

:func:`feedsvc.content.yamlfile.parse_yaml` assembles flat documents straight from
libyaml's events and hands everything else to PyYAML's constructor. These
tests hold the two to the same result (data, key lines, duplicate keys) on
generated documents full of YAML's traps, and check that the fast path really
is taken for the common article shape (so it cannot silently stop working).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from feedsvc.content.yamlfile import _parse_full, _parse_simple, parse_yaml, read_yaml_file
from feedsvc.content.yamlflat import parse_flat

REPO = Path(__file__).resolve().parent.parent

# Plain scalars whose type depends on the schema (YAML 1.1 vs 1.2): all valid.
TYPED_PLAIN = [
    "yes", "No", "on", "OFF", "true", "False", "TRUE", "null", "Null", "~", "", "007", "0",
    "-0", "+12", "-3", "0x1F", "0o17", "1_000", "1.5", "-.5", "1e3", ".inf", "-.Inf", ".NaN",
    "12:30", "2025-09-04", "2025-09-04T18:00:00+08:00", "2025-09-04 18:00:00 +08:00",
    "North Korea", "AT&T <3", "a # comment", "<<", "=", "1.0.0", "0b101", "+.inf", "9" * 30,
]  # fmt: skip
# Values that are not plain scalars, or not valid at all.
WILD_PLAIN = [
    "x: y", "!foo", "&anchor", "*alias", "@at", "%pct", "[1, 2]", "{a: 1}", "'half", "\"half",
    "- item", "? q", "| pipe", "> fold", "!!str 12", '!!int "7"', "&a x", "*a", "!custom x",
    '"a\\\n  b"', '"multi\n  line"', "plain\n  continued", "\t tab",
]  # fmt: skip
SAFE_KEYS = ["title", "tags", "body", "views", "draft", "summary", "title", "a b", '"quoted"',
             "'single'", "published"]  # fmt: skip
WILD_KEYS = ["1", "true", "null", "~", "<<", "? complex", "[k]", "&k key", "!!str 3"]

text_value = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12
)


def double_quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def single_quoted(text: str) -> str:
    return "'" + text.replace("'", "''").replace("\n", " ") + "'"


safe_scalar = st.one_of(
    st.sampled_from(TYPED_PLAIN), text_value.map(double_quoted), text_value.map(single_quoted)
)
scalar = st.one_of(safe_scalar, safe_scalar, safe_scalar, st.sampled_from(WILD_PLAIN))
one_line = scalar.filter(lambda s: "\n" not in s)
block_scalar = st.tuples(
    st.sampled_from(["|", "|-", "|+", ">", ">-", "|2", "| # c"]),
    st.lists(
        st.sampled_from(["text", "", "  indented", "# not a comment", "a: b", "- x"]), max_size=4
    ),
).map(lambda p: p[0] + "".join("\n  " + line if line else "\n" for line in p[1]))
safe_line = safe_scalar.filter(lambda s: "\n" not in s)


def sequences(item: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    flow = st.lists(item, max_size=4).map(lambda items: "[" + ", ".join(items) + "]")
    block = st.lists(item, min_size=1, max_size=3).map(
        lambda items: "".join("\n  - " + one for one in items)
    )
    return st.one_of(flow, block)


nested = st.sampled_from(["\n  inner: 1", "{a: 1}", "\n  - [1, 2]", "\n  - {a: b}", "{}"])
safe_value = st.one_of(safe_scalar, safe_scalar, block_scalar, sequences(safe_line))
wild_value = st.one_of(scalar, block_scalar, sequences(one_line), nested)
safe_key = st.sampled_from(SAFE_KEYS)
wild_key = st.one_of(safe_key, st.sampled_from(WILD_KEYS))


def documents(key: st.SearchStrategy[str], value: st.SearchStrategy[str], starts: list[str],
              ends: list[str]) -> st.SearchStrategy[str]:  # fmt: skip
    entry = st.tuples(key, value).map(lambda kv: f"{kv[0]}: {kv[1]}")
    return st.tuples(
        st.sampled_from(starts), st.lists(entry, max_size=6), st.sampled_from(ends)
    ).map(lambda p: p[0] + "\n".join(p[1]) + p[2])


document = st.one_of(
    documents(safe_key, safe_value, ["", "---\n", "# comment\n"], ["", "\n", "\n...\n"]),
    documents(safe_key, safe_value, ["", "---\n", "# comment\n"], ["", "\n", "\n...\n"]),
    documents(
        wild_key,
        wild_value,
        ["", "%YAML 1.2\n---\n", "- a\n"],
        ["", "\n---\nsecond: doc\n", "\n  bad", "\n# end\n"],
    ),
)


def full_result(text: str) -> tuple[object, ...]:
    parsed, problems = _parse_full(text, "f.yaml")
    if parsed is None:
        return (None, [(p.field, p.message, p.line) for p in problems])
    return (parsed.data, parsed.lines, parsed.duplicate_keys, parsed.escapes)


def same_values(a: object, b: object) -> bool:
    """Equality that also tells 1 from True and NaN from anything."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same_values(a[k], b[k]) for k in a)  # type: ignore[index]
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(map(same_values, a, b))  # type: ignore[arg-type]
    if isinstance(a, float) and a != a:
        return b != b  # NaN
    return a == b


@pytest.mark.slow
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document)
@example("title: x\ntitle: y\n")
@example('tags: [a, "b", 1, true, ~]\nviews: 007\n')
@example("a: &x 1\nb: *x\n")
@example("<<: {a: 1}\n")
@example("image:\n  url: u\n  width: 5\nattachments:\n  - url: v\n    length: 007\n  - w\n")
@example("image: {a: 1, a: 2}\n")
@example("image: {a: [1]}\nattachments: [[1]]\n")
@example("image: {<<: {a: 1}}\n")
def test_fast_path_equals_full_loader(text: str):
    simple = _parse_simple(text)
    expected = full_result(text)
    parsed, problems = parse_yaml(text, "f.yaml")
    if parsed is None:
        actual: tuple[object, ...] = (None, [(p.field, p.message, p.line) for p in problems])
    else:
        actual = (parsed.data, parsed.lines, parsed.duplicate_keys, parsed.escapes)
    assert same_values(actual, expected)
    if simple is not None:  # what the fast path built is the full loader's answer
        assert expected[0] is not None
        assert same_values(simple.data, expected[0])
        assert simple.lines == expected[1] and simple.duplicate_keys == expected[2]
    assert_flat_is_full_loaders(text)


def test_fast_path_is_taken_for_articles():
    """Every bundled article parses without the full loader."""
    files = sorted((REPO / "content" / "articles").glob("*.yaml"))
    assert len(files) >= 8
    for path in files:
        assert _parse_simple(path.read_text(encoding="utf-8")) is not None, path.name


def test_fast_path_is_taken_for_generated_content(tmp_path: Path):
    from bench.generate import write_content

    content = write_content(tmp_path / "content", 20, 5, seed=1)
    for path in sorted((content / "articles").glob("*.yaml")):
        assert _parse_simple(path.read_text(encoding="utf-8")) is not None, path.name
        assert assert_flat_is_full_loaders(path.read_text(encoding="utf-8")), path.name


def test_escapes_flag_follows_backslashes(tmp_path: Path):
    plain, quoted = tmp_path / "plain.yaml", tmp_path / "quoted.yaml"
    plain.write_text("title: Plain\nbody: |\n  text\n", encoding="utf-8")
    quoted.write_text('title: "tab\\there"\n', encoding="utf-8")
    parsed_plain, _, _ = read_yaml_file(plain, "plain.yaml")
    parsed_quoted, _, _ = read_yaml_file(quoted, "quoted.yaml")
    assert parsed_plain is not None and parsed_plain.escapes is False
    assert parsed_quoted is not None and parsed_quoted.escapes is True
    assert parsed_quoted.data == {"title": "tab\there"}


def assert_flat_is_full_loaders(text: str) -> bool:
    """What the line-by-line reader builds, when it answers, is the full loader's
    answer (data, key lines, duplicate keys); returns whether it answered."""
    flat = parse_flat(text, 10_000)
    if flat is None:
        return False
    expected = full_result(text)
    assert expected[0] is not None, text
    assert same_values(flat[0], expected[0]), text
    assert flat[1] == expected[1] and flat[2] == expected[2], text
    return True


# Documents near the flat shape's edges: each either read line by line exactly as
# the loader reads it, or left to the loader.
FLAT_EDGES = [
    "title: x\ntitle: y\n",
    "title: x",
    "body: |\n  a\n\n  b\n\n\nviews: 3\n",
    "body: |\n  a\n    deeper\n  b",
    "body: |-\n  a\n  b\n",
    "body: |\n\n  leading blank\n",
    "body: |\n  a\n   \n  b\n",
    "body: |\n  a\n \n  b\n",
    "body: |\n  a\n b\n",
    "body: |\n  a\n  \n  b\n",
    "body: |\n    a\n  \n    b\n",
    "body: |\n    a\n      \n    b\n",
    "body: |\n  a\n\n\n",
    "body: |\n  a\n  \n",
    "body: |\n  a\n  b\n\nviews: 1\n",
    "body: |\n  \n  a\n",
    "title: x\n \nviews: 1\n",
    "title: x\n  \n",
    "title: x\n\n",
    "body: |\n  a\n# comment\n  b\n",
    "body: |\n  a\n# comment\nviews: 1\n",
    "body: |\n  # not a comment\n  a: b\n  - c\n",
    "body: |+\n  a\n\n",
    "body: |2\n   a\n",
    "summary: >\n  a\n  b\n",
    "summary: >-\n  a\n  b\n\n",
    "summary: >\n  a\n\n  b\n",
    "summary: >\n  a \n  b\n",
    "summary: >\n  a\n    b\n",
    "body: |\n",
    "body: |\nviews: 1\n",
    "title: a # comment\n",
    "title: a#b\n",
    "title: a: b\n",
    "title: a:b\n",
    "title: http://x/y?z=1&w=2\n",
    "title: trailing:\n",
    "title: x\n  continued\n",
    "title: x\n\n  continued\n",
    'title: "x"\n  more\n',
    'title: "a # b: c"   \n',
    'title: "a\\tb"\n',
    'title: "a" b\n',
    "title: 'it''s'\n",
    "title: 'a' 'b'\n",
    "title: ''\n",
    'title: ""\n',
    "title:\n",
    "title:  \n  - a\n",
    "tags:\n- a\n- b\n",
    "title:x\n",
    "title : x\n",
    " title: x\n",
    "title: x\r\nviews: 1\r\n",
    "title: a\tb\n",
    "title: a\u2028b\n",
    "title: a\u00a0b\n",
    "title: Korea \ubd81\ud55c\n",
    "\ufefftitle: x\n",
    "---\ntitle: x\n",
    "title: x\n...\n",
    "title: x\n---\ntitle: y\n",
    "%YAML 1.2\n---\ntitle: x\n",
    "# only a comment\n",
    "",
    "true: x\n",
    "null: x\nNULL: y\n",
    "Yes: x\nno: y\n",
    "views: 007\nviews2: -3\nviews3: +4\nviews4: 0x1F\n",
    "views: 1.5\n",
    "views: " + "9" * 5000 + "\n",
    "draft: true\ndraft2: False\nnothing: ~\nnothing2: null\n",
    "published: 2025-09-04T18:00:00+08:00\nday: 2025-09-04\n",
    "tags: []\n",
    "tags: [ ]\n",
    "tags: [a, b]\n",
    "tags: [a,b]\n",
    "tags: [ North Korea ,  China ]\n",
    "tags: [a, b, ]\n",
    "tags: [a,, b]\n",
    "tags: [\"a, b\", 'c, ''d''']\n",
    'tags: ["a" x, b]\n',
    "tags: [1, true, ~, null, 007]\n",
    "tags: [a: b]\n",
    "tags: [[a]]\n",
    "tags: [{a: b}]\n",
    "tags: [-a, b]\n",
    "tags: [a # b]\n",
    "tags: [a\n  , b]\n",
    "tags: [a, b] # c\n",
    "tags: a, b\n",
    "image: {url: x}\n",
    "title: &a x\nother: *a\n",
    "title: !!str 1\n",
    "title: @x\n",
    "title: `x\n",
    "title: %x\n",
    "title: -x\n",
    "title: - x\n",
    "title: ?x\n",
    "title: [a]b\n",
    "title: {a\n",
]


@pytest.mark.parametrize("text", FLAT_EDGES)
def test_flat_reader_is_the_loader_or_silent(text: str):
    assert_flat_is_full_loaders(text)


def test_flat_reader_knows_which_keys_are_strings():
    """The words the key pattern allows that are not string keys are exactly
    those YAML 1.2 resolves to null or a bool (no resolving per key)."""
    from feedsvc.content.yamlflat import _KEY, _NOT_STRING_KEYS
    from feedsvc.content.yamlschema import _RESOLVERS, plain_scalar

    words = {"title", "tags", "n", "no", "on", "off", "yes", "y", "Y", "N", "nul", "nulls"}
    for pattern_words in _RESOLVERS.values():  # every spelling a resolver names, as it is
        for _, pattern in pattern_words:
            words.update(part for part in pattern.pattern.replace("^(?:", "").replace(")$", "")
                         .split("|") if part.isidentifier())  # fmt: skip
    words = {word for word in words if _KEY.fullmatch(word + ":")}
    assert {"null", "true", "FALSE"} <= words
    for word in words:
        assert (word in _NOT_STRING_KEYS) == (type(plain_scalar(word)) is not str), word


def test_flat_reader_takes_the_common_shapes():
    """Not silent on what it is for (so it cannot quietly stop working)."""
    for text in (
        "title: x\n",
        "body: |\n  a\n\n  b\n",
        "tags: [a, \"b\", 'c']\n",
        "summary: >-\n  a\n  b\n",
        "title: 'it''s'\nviews: 3\ndraft: false\n",
    ):
        assert assert_flat_is_full_loaders(text), text


def test_flat_reader_on_bundled_articles():
    """The bundled articles: read line by line where the reader answers, and then right."""
    files = sorted((REPO / "content" / "articles").glob("*.yaml"))
    taken = [assert_flat_is_full_loaders(path.read_text(encoding="utf-8")) for path in files]
    assert sum(taken) >= len(files) - 2


def test_flat_reader_on_many_keys_and_long_lists_is_the_loader():
    """A popularity.yaml of many ``slug: views`` lines, and a list past the node
    budget (left to the loader, which words the problem)."""
    many = "".join(f"a{i}: {i}\n" for i in range(30_000))
    flat = parse_flat(many, 4_000_000)
    assert flat is not None and len(flat[0]) == 30_000 and flat[0]["a29999"] == 29_999
    assert flat[1]["a29999"] == 30_000
    long_list = "tags: [" + "a, " * 30_000 + "a]\n"
    assert parse_flat(long_list, 20_000) is None
    parsed, problems = parse_yaml(long_list, "f.yaml")
    assert parsed is None and "more than 20000 values" in problems[0].message
    assert assert_flat_is_full_loaders("tags: [" + "a, " * 5_000 + "a]\n")
