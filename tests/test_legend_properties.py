"""Property-based tests (hypothesis) of the legend CSV reader: any legend (unique values 0-254, unique colours,
names holding commas, quotes, semicolons, non-ASCII letters), written with any separator (, ; tab), encoding
(UTF-8, UTF-8 with a byte-order mark, Latin-1 when the names fit), quoting and line ends, in any column order
with a hex colour column or R,G,B columns under a matching header, reads back as the same legend, with the
columns guessed or given as roles."""
from __future__ import annotations

import csv
import io
import re
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from landclass_ui.legend import Legend, LegendEntry, guess_columns, hex_to_rgb, normalize_name, parse_columns

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: header words a user may give each role (guess_columns must understand them all)
HEADER_WORDS = {
    "value": ["value", "code", "Value", "CODE"],
    "name": ["label", "name", "class", "Class"],
    "color": ["color", "colour", "hex", "Color"],
    "red": ["R", "red", "Red"],
    "green": ["G", "green", "Green"],
    "blue": ["B", "blue", "BLUE"],
}

# letters of any script, the separators and quotes, spaces inside; no control characters (no line breaks,
# no tabs: a spreadsheet's cell does not hold them)
name_chars = st.one_of(
    st.characters(exclude_categories=("Cc", "Cs", "Co", "Cn", "Zl", "Zp")),
    st.sampled_from(list(',;"\' #éèàçÉøßœ€ñ')),
)
names = st.text(name_chars, min_size=1, max_size=16).map(str.strip).filter(bool)


@st.composite
def legends(draw, min_size: int = 1, max_size: int = 12) -> Legend:
    n = draw(st.integers(min_size, max_size))
    values = draw(st.lists(st.integers(0, 254), min_size=n, max_size=n, unique=True))
    colors = draw(st.lists(st.integers(0, 0xFFFFFF), min_size=n, max_size=n, unique=True))
    labels = draw(st.lists(names, min_size=n, max_size=n, unique_by=normalize_name))
    return Legend(LegendEntry(v, name, f"#{c:06x}") for v, name, c in zip(values, labels, colors))


@st.composite
def layouts(draw) -> tuple[str, ...]:
    """Roles of the columns in file order: value, name and a hex colour, or value, name and R, G, B; any order."""
    roles = ["value", "name", "color"] if draw(st.booleans()) else ["value", "name", "red", "green", "blue"]
    return tuple(draw(st.permutations(roles)))


def cells(entry: LegendEntry, roles: tuple[str, ...]) -> list[object]:
    r, g, b = hex_to_rgb(entry.color)
    by_role = {"value": entry.value, "name": entry.name, "color": entry.color, "red": r, "green": g, "blue": b}
    return [by_role[role] for role in roles]


def csv_bytes(legend: Legend, roles: tuple[str, ...], header: list[str] | None, sep: str, encoding: str,
              quoting: int, eol: str) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=sep, quoting=quoting, lineterminator=eol)
    if header is not None:
        writer.writerow(header)
    for entry in legend:
        writer.writerow(cells(entry, roles))
    return buf.getvalue().encode(encoding)


def latin1_fits(legend: Legend) -> bool:
    """The names can be written in Latin-1, and the bytes cannot be taken for UTF-8 (a Latin-1 "Ã©" is the
    UTF-8 "é": no reader can tell them apart, and such names do not occur)."""
    text = "".join(legend.names)
    try:
        data = text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def read_back(data: bytes, columns=None) -> tuple[Legend, str]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "legend.csv"
        path.write_bytes(data)
        return Legend.from_table(path, columns), str(guess_columns(path))


@SETTINGS
@given(legend=legends(), roles=layouts(), data=st.data(), sep=st.sampled_from([",", ";", "\t"]),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "latin-1"]),
       quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]),
       eol=st.sampled_from(["\n", "\r\n"]))
def test_any_legend_csv_with_a_header_reads_back(legend, roles, data, sep, encoding, quoting, eol):
    if encoding == "latin-1":
        assume(latin1_fits(legend))
    header = [data.draw(st.sampled_from(HEADER_WORDS[role]), label=role) for role in roles]
    raw = csv_bytes(legend, roles, header, sep, encoding, quoting, eol)
    read, guessed = read_back(raw)
    assert guessed == ",".join(roles)
    assert read == legend
    assert read_back(raw, parse_columns(",".join(roles)))[0] == legend  # the roles given, as --legend-columns


# without a header the content tells the columns apart: names that are text (not numbers, not hex colours),
# the value before the R,G,B columns (of four columns of integers 0-255, the first is taken for the value)
HEXLIKE = re.compile(r"^#?[0-9a-fA-F]{6}$")
text_names = names.filter(lambda s: not _is_number(s) and not HEXLIKE.match(s) and not s.startswith("\ufeff"))


@st.composite
def text_legends(draw) -> Legend:
    legend = draw(legends(min_size=2))
    labels = draw(st.lists(text_names, min_size=len(legend), max_size=len(legend), unique_by=normalize_name))
    return Legend(LegendEntry(e.value, name, e.color) for e, name in zip(legend, labels))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@SETTINGS
@given(legend=text_legends(), sep=st.sampled_from([",", ";", "\t"]),
       roles=st.sampled_from([("value", "name", "color"), ("color", "value", "name"), ("name", "color", "value"),
                              ("value", "name", "red", "green", "blue"), ("name", "value", "red", "green", "blue"),
                              ("value", "red", "green", "blue", "name")]))
def test_a_legend_csv_without_header_reads_back(legend, sep, roles):
    raw = csv_bytes(legend, roles, None, sep, "utf-8", csv.QUOTE_MINIMAL, "\n")
    read, guessed = read_back(raw)
    assert guessed == ",".join(roles)
    assert read == legend


@SETTINGS
@given(legend=legends())
def test_the_export_reads_back(legend):
    """SEPAL's export layout color,value,label, as Legend.to_csv writes it."""
    read, guessed = read_back(legend.to_csv().encode("utf-8"))
    assert guessed == "color,value,name" and read == legend


@SETTINGS
@given(legend=legends(), roles=layouts(), extra=st.lists(st.integers(0, 6), max_size=3), data=st.data())
def test_other_columns_are_ignored_and_the_roles_print_as_parse_columns_reads_them(legend, roles, extra, data):
    """Columns of notes anywhere (header "notes", any text) change nothing; str(LegendColumns) is the text
    parse_columns reads back (what the CLI can print as its guess)."""
    roles = list(roles)
    for at in extra:
        roles.insert(min(at, len(roles)), "ignore")
    roles = tuple(roles)
    header = ["notes" if r == "ignore" else HEADER_WORDS[r][0] for r in roles]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for entry in legend:
        by_role = dict(zip(("value", "name", "color"), (entry.value, entry.name, entry.color)))
        by_role.update(zip(("red", "green", "blue"), hex_to_rgb(entry.color)))
        writer.writerow([data.draw(names) if r == "ignore" else by_role[r] for r in roles])
    read, guessed = read_back(buf.getvalue().encode("utf-8"))
    assert read == legend
    columns = parse_columns(guessed)
    assert columns.roles == roles[:len(columns.roles)] and set(roles[len(columns.roles):]) <= {"ignore"}
    assert parse_columns(str(columns)) == columns
