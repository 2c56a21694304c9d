"""The exports' one formula-injection rule, whatever hides the formula:
controls, zero-width and format characters, spaces, full-width forms; in CSV
and in XLSX (stripped first, then neutralised), numbers kept as numbers."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date, datetime
from decimal import Decimal

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from common import exporting
from tests.common.hostile import (
    HOSTILE,
    HOSTILE_EMAIL,
    assert_csv_safe,
    assert_xlsx_safe,
    csv_written,
    excel_text,
    is_safe,
    xlsx_read_back,
)

# What may sit in front of a formula, and what may follow.
FRONT = st.sampled_from(
    [
        "\x00", "\x01", "\t", "\n", "\r", "\x1f", "\x7f", "\x85", "\x9f",
        "\u00a0", "\u00ad", "\u034f", "\u061c", "\u115f", "\u1680", "\u180e",
        "\u2000", "\u200b", "\u200c", "\u200d", "\u200e", "\u200f", "\u2028",
        "\u202a", "\u202e", "\u202f", "\u205f", "\u2060", "\u2066", "\u3000",
        "\u3164", "\ufe0f", "\ufeff", "\uffa0", "\U000e0001", " ", "'",
    ]
)  # fmt: skip
TRIGGER = st.sampled_from(
    ["=", "+", "-", "@", "\uff1d", "\uff0b", "\uff0d", "\uff20", "\ufe66",
     "\ufe62", "\ufe63", "\ufe6b", "\u207a", "\u207c", "\u208a", "\u208c"]
)  # fmt: skip
HIDDEN_FORMULAS = st.builds(
    lambda front, trigger, rest: "".join(front) + trigger + rest,
    st.lists(FRONT, max_size=4),
    TRIGGER,
    st.text(max_size=10),
)
ANY_TEXT = st.one_of(st.text(), HIDDEN_FORMULAS)


def _csv_cells(rows: list[tuple]) -> list[list[str]]:
    text = "".join(exporting.csv_lines(["h"] * len(rows[0]), rows))
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))[1:]


def _xlsx_sheet(rows: list[tuple]):
    return load_workbook(exporting.xlsx_file(["h"] * len(rows[0]), rows)).active


# ------------------------------------------------------------ neutralise


@pytest.mark.parametrize("value", [*HOSTILE, HOSTILE_EMAIL])
def test_it_prefixes_a_formula_hidden_behind_what_a_spreadsheet_skips(value):
    assert exporting.neutralise(value) == "'" + value
    assert is_safe(exporting.neutralise(value))


@pytest.mark.parametrize(
    "value",
    ["Hélène", "Ōno", "李", "a=b", "jean-luc@example.com", "'quoted", " Anne",
     "\u200bAnne", "\uff21nne", "", "_x003D_"],
)  # fmt: skip
def test_it_leaves_text_alone_that_no_trigger_begins(value):
    assert exporting.neutralise(value) == value


@pytest.mark.parametrize(
    "value", [-2, -1.5, Decimal("-3"), date(2025, 1, 1), datetime(2025, 1, 1), None]
)
def test_it_leaves_numbers_and_dates_alone(value):
    assert exporting.neutralise(value) == value


@given(ANY_TEXT)
@example("\u2212 3")
def test_no_neutralised_text_begins_a_formula(value):
    assert is_safe(exporting.neutralise(value))
    assert is_safe(exporting.neutralise(value, reversible=True))


@given(ANY_TEXT)
def test_it_is_idempotent(value):
    once = exporting.neutralise(value)
    assert exporting.neutralise(once) == once


@given(st.one_of(ANY_TEXT, st.builds("'{}".format, ANY_TEXT)))
@example("'=1+1")
@example("''\u200b@x")
def test_the_evidence_reads_back_exactly_what_was_neutralised(value):
    assert exporting.unneutralise(exporting.neutralise(value, reversible=True)) == value


@pytest.mark.parametrize("value", ["'=x", "'\u200b+1"])
def test_it_adds_a_prefix_reversibly_to_text_that_looks_neutralised(value):
    assert exporting.neutralise(value) == value  # idempotent: already safe
    assert exporting.neutralise(value, reversible=True) == "'" + value


def test_it_undoes_the_prefix_of_files_written_before_the_wider_rule():
    for old in ("'=1", "'+1", "'-1", "'@1", "'\t1", "'\r1"):
        assert exporting.unneutralise(old) == old[1:]
    assert exporting.unneutralise("'plain") == "'plain"


# ------------------------------------------------------------ CSV


def test_it_writes_hostile_text_safely_in_csv():
    rows = [(value, HOSTILE_EMAIL, n) for n, value in enumerate(HOSTILE)]
    cells = _csv_cells(rows)
    assert_csv_safe(cells)
    assert [row[0] for row in cells] == [csv_written(v) for v in HOSTILE]
    assert {row[1] for row in cells} == {"'=1+1@ctl.example"}


def test_it_neutralises_csv_header_labels_too():
    text = "".join(exporting.csv_lines(["=label"], []))
    assert text.removeprefix("\ufeff").splitlines() == ["'=label"]


@given(st.lists(ANY_TEXT, min_size=1, max_size=4))
def test_no_csv_cell_begins_a_formula(values):
    assert_csv_safe(_csv_cells([tuple(values)]))


# ------------------------------------------------------------ XLSX


def test_it_strips_controls_before_neutralising_in_xlsx():
    sheet = _xlsx_sheet([('\x01=HYPERLINK("http://e.example","x")',)])
    cell = sheet["A2"]
    assert cell.data_type == "s"
    assert cell.value == '\'=HYPERLINK("http://e.example","x")'


def test_it_writes_hostile_text_as_prefixed_text_cells_in_xlsx():
    rows = [(value, HOSTILE_EMAIL, n, -n) for n, value in enumerate(HOSTILE)]
    sheet = _xlsx_sheet(rows)
    assert_xlsx_safe(sheet)
    for number, value in enumerate(HOSTILE, start=2):
        for cell in (sheet[f"A{number}"], sheet[f"B{number}"]):
            assert cell.data_type == "s" and cell.value.startswith("'")
        assert sheet[f"A{number}"].value == xlsx_read_back(value)
        assert sheet[f"D{number}"].data_type == "n"  # -n stays a number


def test_it_keeps_numbers_and_dates_as_such_in_xlsx():
    sheet = _xlsx_sheet([(-2, Decimal("-1.5"), date(2025, 1, 2), True)])
    assert [cell.data_type for cell in sheet[2]] == ["n", "n", "d", "b"]
    assert sheet["A2"].value == -2


def test_it_escapes_what_excel_would_decode_into_a_formula():
    sheet = _xlsx_sheet([("_x003D_1+1", "_x0001_=1", "a_x0041_b")])
    shown = [excel_text(cell.value) for cell in sheet[2]]
    assert shown == ["_x003D_1+1", "_x0001_=1", "a_x0041_b"]
    assert_xlsx_safe(sheet)


def test_it_drops_what_xml_cannot_hold_instead_of_writing_a_broken_file():
    output = exporting.xlsx_file(["h"], [("A\ufffeB\uffff\x0bC",)])
    with zipfile.ZipFile(output) as archive:
        assert archive.testzip() is None
    output.seek(0)
    assert load_workbook(output).active["A2"].value == "ABC"


@settings(deadline=None)  # a workbook is a zip written to disk
@given(st.lists(ANY_TEXT, min_size=1, max_size=3))
def test_no_xlsx_cell_begins_a_formula(values):
    assert_xlsx_safe(_xlsx_sheet([tuple(values)]))
