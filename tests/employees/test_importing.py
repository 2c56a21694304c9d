"""The staff import, as a DPO feeding it real HR exports would see it."""

from __future__ import annotations

import io
from datetime import date, datetime

import pytest
from django.db import IntegrityError
from openpyxl import Workbook

from employees import importing
from employees.importing import ImportFileError, run_import
from employees.models import Employee

pytestmark = pytest.mark.django_db


def _file(text: str, encoding: str = "utf-8") -> io.BytesIO:
    return io.BytesIO(text.encode(encoding))


def _xlsx(rows: list[list[object]], extra_sheet: bool = False) -> io.BytesIO:
    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    if extra_sheet:
        workbook.create_sheet("Other").append(["email"])
        workbook["Other"].append(["other@example.com"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    buffer.seek(0)
    return buffer


def _emails() -> list[str]:
    return sorted(Employee.objects.values_list("email", flat=True))


def test_it_imports_a_plain_csv_keeping_names_exactly():
    text = (
        "email,first name,last name\n"
        "helene@example.com,Hélène,Dupont\n"
        "oyvind@example.com,Øyvind,Müller\n"
        "dang@example.com,Đặng,Văn Thành\n"
    )
    result = run_import(_file(text))
    assert (result.created, result.errors, result.written) == (3, [], True)
    names = set(Employee.objects.values_list("first_name", "last_name"))
    assert names == {("Hélène", "Dupont"), ("Øyvind", "Müller"), ("Đặng", "Văn Thành")}


@pytest.mark.parametrize(
    ("encoding", "prefix"),
    [("utf-8", b""), ("utf-8", b"\xef\xbb\xbf"), ("cp1252", b""), ("utf-16", b"")],
)
def test_it_reads_the_encodings_excel_writes(encoding, prefix):
    text = "Courriel;Prénom;Nom\r\nhelene@example.com;Hélène;Lefèvre\r\n"
    binary = io.BytesIO(prefix + text.encode(encoding))
    result = run_import(binary)
    assert result.created == 1
    employee = Employee.objects.get()
    assert (employee.email, employee.first_name, employee.last_name) == (
        "helene@example.com",
        "Hélène",
        "Lefèvre",
    )


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_it_detects_the_delimiter(delimiter):
    text = delimiter.join(["email", "first name", "department"]) + "\n"
    text += delimiter.join(["a@example.com", "Ann", "R&D, Lyon"]) + "\n"
    if delimiter == ",":
        text = text.replace("R&D, Lyon", '"R&D, Lyon"')
    run_import(_file(text))
    assert Employee.objects.get().department == "R&D, Lyon"


def test_it_reads_quoted_fields_with_newlines_and_reports_true_line_numbers():
    text = (
        "email;department\n"
        'a@example.com;"Finance\nand Control; Paris"\n'
        "\n"
        "not-an-address;IT\n"
    )
    result = run_import(_file(text))
    assert [(e.line, e.column) for e in result.errors] == [(5, "email")]
    assert Employee.objects.count() == 0  # an invalid row stops the import


def test_it_ignores_blank_lines_and_trailing_empty_columns():
    text = "email,first name,,\n\na@example.com,Ann,,\n,,,\nb@example.com,Bob,,\n\n"
    result = run_import(_file(text))
    assert (result.created, result.errors, result.warnings) == (2, [], [])


def test_it_warns_about_unknown_columns_and_ignores_them():
    result = run_import(_file("email,shoe size\na@example.com,42\n"))
    assert result.created == 1
    assert [(w.line, w.column) for w in result.warnings] == [(1, "shoe size")]


@pytest.mark.parametrize(
    ("header", "field", "value"),
    [
        ("Adresse électronique", "email", "a@example.com"),
        ("E-MAIL", "email", "a@example.com"),
        ("Prénom", "first_name", "Zoë"),
        ("given_name", "first_name", "Zoë"),
        ("Nom de famille", "last_name", "Noël"),
        ("Surname", "last_name", "Noël"),
        ("Département", "department", "Achats"),
        ("Direction", "department", "Achats"),
        ("Pays", "country", "Belgique"),
        ("Site", "country", "Lyon"),
        ("Matricule", "hr_id", "00123"),
        ("Employee ID", "hr_id", "00123"),
    ],
)
def test_it_matches_headers_in_french_or_english(header, field, value):
    email_header = header if field == "email" else "courriel"
    cells = [email_header] if field == "email" else [email_header, header]
    values = ["a@example.com"] if field == "email" else ["a@example.com", value]
    run_import(_file(",".join(cells) + "\n" + ",".join(values) + "\n"))
    assert getattr(Employee.objects.get(), field) == value


def test_it_refuses_a_file_without_an_email_column():
    with pytest.raises(ImportFileError) as raised:
        run_import(_file("name,department\nAnn,IT\n"))
    assert raised.value.line == 1
    assert "email" in raised.value.message


@pytest.mark.parametrize(
    ("written", "code", "warned"),
    [
        ("fr", "fr", False),
        ("FR", "fr", False),
        ("fr-FR", "fr", False),
        ("fr_BE", "fr", False),
        ("en-GB", "en", False),
        ("English", "en", False),
        ("Anglais", "en", False),
        ("Français", "fr", False),
        ("french", "fr", False),
        ("", "fr", True),
        ("xx", "fr", True),
        ("Klingon", "fr", True),
    ],
)
def test_it_understands_languages_as_codes_or_names(settings, written, code, warned):
    settings.LANGUAGE_CODE = "fr"
    result = run_import(_file(f"email;langue\na@example.com;{written}\n"))
    assert Employee.objects.get().language == code
    assert bool(result.warnings) == warned
    if warned:
        assert result.warnings[0].line == 2
        assert result.warnings[0].column == "langue"


def test_it_trims_emails_and_compares_them_without_case():
    Employee.objects.create(email="Ann@Example.com", first_name="Ann")
    result = run_import(_file("email,first name\n  ANN@example.COM ,Annie\n"))
    assert (result.created, result.updated) == (0, 1)
    assert Employee.objects.get().first_name == "Annie"


def test_it_reports_a_repeated_address_on_the_second_line_naming_the_first():
    text = "email\na@example.com\nb@example.com\nA@EXAMPLE.COM\n"
    result = run_import(_file(text))
    assert len(result.errors) == 1
    error = result.errors[0]
    assert (error.line, error.column) == (4, "email")
    assert "line 2" in error.message
    assert Employee.objects.count() == 0


def test_it_reports_invalid_addresses_with_line_and_column():
    result = run_import(_file("Courriel,Prénom\nann@example.com,Ann\nbob@,Bob\n"))
    assert [e.as_dict() for e in result.errors] == [
        {
            "line": 3,
            "column": "Courriel",
            "message": "“bob@” is not a valid email address.",
        }
    ]


def test_it_imports_the_valid_rows_when_asked_to_skip_invalid_ones():
    result = run_import(_file("email\nann@example.com\nnope\n"), skip_invalid=True)
    assert (result.created, len(result.errors), result.written) == (1, 1, True)
    assert _emails() == ["ann@example.com"]


def test_it_writes_nothing_on_a_dry_run():
    result = run_import(_file("email\nann@example.com\n"), dry_run=True)
    assert (result.created, result.written) == (1, False)
    assert Employee.objects.count() == 0


def test_it_links_managers_from_the_file_and_from_the_directory():
    boss = Employee.objects.create(email="boss@example.com")
    text = (
        "email,manager\n"
        "lead@example.com,boss@example.com\n"
        "dev@example.com,LEAD@example.com\n"
        "temp@example.com,ghost@example.com\n"
    )
    result = run_import(_file(text))
    lead = Employee.objects.get(email="lead@example.com")
    assert lead.manager == boss
    assert Employee.objects.get(email="dev@example.com").manager == lead
    assert Employee.objects.get(email="temp@example.com").manager is None
    assert [(w.line, w.column) for w in result.warnings] == [(4, "manager")]


def test_it_links_managers_who_manage_each_other_in_the_file():
    text = "email,manager\na@example.com,b@example.com\nb@example.com,a@example.com\n"
    run_import(_file(text))
    a, b = Employee.objects.order_by("email")
    assert (a.manager, b.manager) == (b, a)


def test_it_changes_nothing_when_the_same_file_is_imported_again():
    text = "email,first name,department,language,manager,id\n"
    text += "a@example.com,Ann,IT,en,,1\nb@example.com,Bob,IT,fr,a@example.com,2\n"
    run_import(_file(text))
    before = list(Employee.objects.values_list("updated_at", flat=True).order_by("id"))
    result = run_import(_file(text))
    assert (result.created, result.updated, result.unchanged) == (0, 0, 2)
    after = list(Employee.objects.values_list("updated_at", flat=True).order_by("id"))
    assert before == after


def test_it_updates_only_what_changed():
    run_import(_file("email,department\na@example.com,IT\nb@example.com,IT\n"))
    result = run_import(
        _file("email,department\na@example.com,IT\nb@example.com,Legal\n")
    )
    assert (result.created, result.updated, result.unchanged) == (0, 1, 1)
    assert Employee.objects.get(email="b@example.com").department == "Legal"


def test_it_keeps_fields_of_columns_absent_from_the_file():
    Employee.objects.create(email="a@example.com", department="IT", language="en")
    run_import(_file("email,first name\na@example.com,Ann\n"))
    employee = Employee.objects.get()
    assert (employee.first_name, employee.department, employee.language) == (
        "Ann",
        "IT",
        "en",
    )


def test_it_matches_by_hr_id_when_both_sides_have_one():
    Employee.objects.create(email="old@example.com", hr_id="E-7", first_name="Ann")
    result = run_import(_file("matricule,email\nE-7,new@example.com\n"))
    assert (result.created, result.updated) == (0, 1)
    assert _emails() == ["new@example.com"]


def test_it_refuses_an_hr_id_that_contradicts_the_directory():
    Employee.objects.create(email="ann@example.com", hr_id="E-1")
    result = run_import(_file("matricule,email\nE-2,ann@example.com\n"))
    assert [(e.line, e.column) for e in result.errors] == [(2, "matricule")]
    assert Employee.objects.get().hr_id == "E-1"


def test_it_deactivates_the_absent_with_sync_and_never_deletes():
    Employee.objects.create(email="stays@example.com")
    Employee.objects.create(email="left@example.com")
    result = run_import(_file("email\nstays@example.com\nnew@example.com\n"), sync=True)
    assert (result.created, result.unchanged, result.deactivated) == (1, 1, 1)
    left = Employee.objects.get(email="left@example.com")
    assert (left.is_active, left.deactivated_at is not None) == (False, True)
    assert Employee.objects.count() == 3


def test_it_reactivates_an_employee_who_comes_back():
    Employee.objects.create(email="back@example.com", is_active=False)
    result = run_import(_file("email\nback@example.com\n"))
    assert result.updated == 1
    assert Employee.objects.get().is_active


def test_it_does_not_deactivate_someone_whose_row_is_invalid():
    Employee.objects.create(email="ann@example.com", hr_id="7")
    text = "email,id,first name\nann@example.com,7," + "x" * 200 + "\n"
    result = run_import(_file(text), sync=True, skip_invalid=True)
    assert (result.deactivated, len(result.errors)) == (0, 1)
    assert Employee.objects.get().is_active


def test_it_writes_nothing_if_the_database_refuses_part_of_the_import():
    Employee.objects.create(email="existing@example.com")
    text = "email\nfirst@example.com\nsecond@example.com\n"
    plan = importing.analyse_file(_file(text))
    # Someone adds one of the addresses between the preview and the confirm.
    Employee.objects.create(email="SECOND@example.com")
    with pytest.raises(IntegrityError):
        importing.apply_plan(plan)
    assert _emails() == ["SECOND@example.com", "existing@example.com"]


def test_it_reads_the_first_sheet_of_an_xlsx_with_typed_cells():
    rows = [
        ["Matricule", "Courriel", "Prénom", "Entrée", "Service"],
        ["00123", "a@example.com", "Ann", date(2024, 1, 2), 42],
        [124, "b@example.com", "Bob", datetime(2024, 1, 2, 0, 0), 3.5],
        [None, None, None, None, None],
    ]
    result = run_import(_xlsx(rows, extra_sheet=True))
    assert result.created == 2
    assert [(w.column, w.line) for w in result.warnings] == [("Entrée", 1)]
    a = Employee.objects.get(email="a@example.com")
    b = Employee.objects.get(email="b@example.com")
    assert (a.hr_id, a.department) == ("00123", "42")
    assert (b.hr_id, b.department) == ("124", "3.5")
    assert not Employee.objects.filter(email="other@example.com").exists()


def test_it_reports_xlsx_errors_with_their_row_number():
    rows = [["email"], ["a@example.com"], [12345], [True]]
    result = run_import(_xlsx(rows))
    assert [(e.line, e.column) for e in result.errors] == [(3, "email"), (4, "email")]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "PDF"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, ".xls"),
        (b"PK\x03\x04garbage that is not a zip", "XLSX"),
        (b"", "empty"),
        (b"\x00\x01\x02binary", "binary"),
    ],
)
def test_it_explains_files_it_cannot_read(content, expected):
    with pytest.raises(ImportFileError) as raised:
        run_import(io.BytesIO(content))
    assert expected in str(raised.value)


def test_it_refuses_bytes_that_are_no_known_encoding_naming_the_line():
    # 0x81 is undefined in Windows-1252 and invalid as UTF-8.
    content = b"email\na@example.com\nb\x81@example.com\n"
    with pytest.raises(ImportFileError) as raised:
        run_import(io.BytesIO(content))
    assert raised.value.line == 3


def test_it_reports_a_long_field_as_a_row_error():
    text = "email,first name\na@example.com," + "x" * 30_000 + "\n"
    result = run_import(_file(text))
    assert [(e.line, e.column) for e in result.errors] == [(2, "first name")]


def test_it_refuses_a_field_over_the_cell_limit():
    text = "email,first name\na@example.com," + "x" * 500_000 + "\n"
    with pytest.raises(ImportFileError) as refused:
        run_import(_file(text))
    assert refused.value.line == 2
    assert "IMPORT_MAX_CELL_CHARS" in str(refused.value)


def test_it_clears_a_bounced_status_when_the_file_brings_a_new_address():
    Employee.objects.create(email="old@example.com", hr_id="7", email_status="bounced")
    Employee.objects.create(email="kept@example.com", hr_id="8", email_status="bounced")
    run_import(_file("id,email\n7,new@example.com\n8,kept@example.com\n"))
    statuses = dict(Employee.objects.values_list("email", "email_status"))
    assert statuses == {"new@example.com": "ok", "kept@example.com": "bounced"}


def test_an_xlsx_declaring_fewer_rows_than_it_holds_is_imported_whole():
    """Read-only openpyxl stops at the size a sheet declares (its
    <dimension>), which some writers set wrong: a sheet saying A1:C2 over
    3,000 rows imported one, silently. Every row and manager must arrive."""
    import re
    import zipfile

    count = 3_000

    def lead(i: int) -> str:
        return "" if i % 10 == 0 else f"p{i - i % 10}@example.com"

    saved = _xlsx(
        [["email", "department", "manager"]]
        + [[f"p{i}@example.com", "IT", lead(i)] for i in range(count)]
    )
    short = io.BytesIO()
    with zipfile.ZipFile(saved) as source, zipfile.ZipFile(short, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data, replaced = re.subn(
                    rb'<dimension ref="[^"]*"', b'<dimension ref="A1:C2"', data
                )
                assert replaced == 1
            target.writestr(item, data)
    short.seek(0)
    result = run_import(short)
    assert (result.created, result.error_count) == (count, 0)
    managers = dict(Employee.objects.values_list("email", "manager__email"))
    assert all(managers[f"p{i}@example.com"] == (lead(i) or None) for i in range(count))
