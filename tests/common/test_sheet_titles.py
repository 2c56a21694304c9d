"""An XLSX export names its sheet after what it holds, not "Sheet"."""

from __future__ import annotations

import io

from django.urls import reverse
from openpyxl import load_workbook

from common.exporting import export_response, sheet_title, xlsx_file


def _sheet_names(binary) -> list[str]:
    return load_workbook(binary, read_only=True).sheetnames


def test_it_names_the_sheet_with_the_title_given():
    assert _sheet_names(xlsx_file(["a"], [(1,)], title="Employees")) == ["Employees"]


def test_it_keeps_openpyxls_default_without_a_title():
    assert _sheet_names(xlsx_file(["a"], [(1,)])) == ["Sheet"]


def test_it_makes_any_title_one_excel_accepts():
    assert sheet_title("Relances [2025/11]: à faire?") == "Relances  2025 11   à faire"
    assert len(sheet_title("x" * 40)) == 31
    assert sheet_title("'quoted'") == "quoted"
    assert sheet_title("") is None and sheet_title("[]") is None


def test_it_passes_the_title_through_the_export_response():
    response = export_response("xlsx", ["a"], [(1,)], "file", title="À relancer")
    binary = io.BytesIO(b"".join(response.streaming_content))
    assert _sheet_names(binary) == ["À relancer"]


def test_it_names_the_employee_export_sheet(client, viewer):
    client.force_login(viewer)
    url = reverse("admin:employees_employee_export", args=["xlsx"])
    response = client.get(url, HTTP_ACCEPT_LANGUAGE="fr")
    binary = io.BytesIO(b"".join(response.streaming_content))
    assert _sheet_names(binary) == ["Employés"]
