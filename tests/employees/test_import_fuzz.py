"""Bad input never crashes the import and never writes half a file."""

from __future__ import annotations

import io
import zipfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook
from openpyxl.utils.exceptions import IllegalCharacterError

from employees.importing import ImportFileError, run_import
from employees.models import Employee

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

VALID = (
    "Courriel;Prénom;Nom;Service;Langue;Responsable\r\n"
    "ann@example.com;Ann;Lefèvre;IT;fr;\r\n"
    "bob@example.com;Bob;Müller;IT;en;ann@example.com\r\n"
    '"cy@example.com";"Cy; Jr";"Ng\r\nuyen";R&D;de;bob@example.com\r\n'
).encode("cp1252", errors="replace")


def _import_safely(content: bytes) -> None:
    """The only acceptable outcomes: a file error with nothing written, or a
    result whose errors mean nothing was written."""
    before = Employee.objects.count()
    try:
        result = run_import(io.BytesIO(content))
    except ImportFileError as exc:
        assert str(exc)
        assert Employee.objects.count() == before
        return
    if result.errors:
        assert not result.written
        assert Employee.objects.count() == before
    for issue in result.errors + result.warnings:
        assert issue.line >= 1 and issue.message


@FUZZ
@given(st.binary(max_size=2000))
def test_it_survives_random_bytes(content):
    _import_safely(content)


@FUZZ
@given(st.integers(min_value=0, max_value=len(VALID)))
def test_it_survives_a_truncated_csv(cut):
    _import_safely(VALID[:cut])


@FUZZ
@given(st.text(max_size=300), st.sampled_from([",", ";", "\t", '"', "\n", "\r"]))
def test_it_survives_random_text_in_a_valid_file(noise, delimiter):
    for encoding in ("utf-8", "utf-16", "cp1252"):
        payload = VALID.decode("cp1252") + noise + delimiter + noise
        _import_safely(payload.encode(encoding, errors="replace"))


@FUZZ
@given(
    st.lists(
        st.one_of(
            st.none(),
            st.integers(),
            st.floats(allow_nan=False, allow_infinity=False),
            st.booleans(),
            st.datetimes(),
            st.text(max_size=40).filter(lambda s: not s.startswith("=")),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_it_survives_wrong_types_in_xlsx_cells(cells):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["email", "first name", "langue", "manager", "id", "service"])
    sheet.append(["ann@example.com", "Ann", "fr", None, 1, "IT"])
    try:
        sheet.append(cells)
    except IllegalCharacterError:  # openpyxl refuses to write control characters
        return
    buffer = io.BytesIO()
    workbook.save(buffer)
    _import_safely(buffer.getvalue())


def _valid_xlsx() -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["email", "first name"])
    for i in range(50):
        sheet.append([f"p{i}@example.com", f"P{i}"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


XLSX = _valid_xlsx()


@FUZZ
@given(st.integers(min_value=0, max_value=len(XLSX)))
def test_it_survives_a_truncated_xlsx(cut):
    _import_safely(XLSX[:cut])


def test_it_survives_an_xlsx_whose_sheet_is_corrupt():
    source = zipfile.ZipFile(io.BytesIO(XLSX))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename.endswith("sheet1.xml"):
                data = data[: len(data) // 2]
            target.writestr(item, data)
    _import_safely(buffer.getvalue())
    assert Employee.objects.count() == 0


def test_it_survives_a_field_larger_than_the_csv_limit():
    _import_safely(b"email,first name\na@example.com," + b"x" * 2_000_000 + b"\n")
    assert Employee.objects.count() == 0
