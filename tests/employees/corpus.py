"""A generated corpus of broken and hostile staff files, built from a few valid
ones by seeded mutations: nothing binary is committed, every run builds the
same files. ``corpus(seed)`` yields ``(name, file name, bytes)``; the bombs
are generators of XLSX parts streamed into the zip (``write_xlsx``), so that
a real-size bomb costs its compressed size, not its expansion."""

from __future__ import annotations

import codecs
import io
import random
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"

HEADER = ["Courriel", "Prénom", "Nom", "Service", "Langue", "Responsable"]
PEOPLE = [
    ["ann@example.com", "Ann", "Lefèvre", "IT", "fr", ""],
    ["bob@example.com", "Bob", "Müller", "IT", "en", "ann@example.com"],
    ["cy@example.com", "Cy; Jr", "Nguyễn", "R&D", "de", "bob@example.com"],
    ["dee@example.com", "Dée", "O'Brien", "RH", "Français", "ann@example.com"],
]

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
    "</Types>"
)
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    f'<Relationships xmlns="{PKG_REL_NS}">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    f'<workbook xmlns="{NS}" xmlns:r="{REL_NS}">'
    '<sheets><sheet name="Staff" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    f'<Relationships xmlns="{PKG_REL_NS}">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>'
    "</Relationships>"
)
LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
        for i in range(1, 10)
    )
    + "]>"
)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _column(index: int) -> str:
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


def sheet_xml(rows: list[list[str]], strings: list[str]) -> Iterator[bytes]:
    """Rows as shared-string cells; ``strings`` is filled as it goes."""
    index: dict[str, int] = {}
    yield f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{NS}"><sheetData>'.encode()
    for number, row in enumerate(rows, start=1):
        cells = []
        for position, value in enumerate(row):
            if value == "":
                continue
            if value not in index:
                index[value] = len(strings)
                strings.append(value)
            ref = f"{_column(position)}{number}"
            cells.append(f'<c r="{ref}" t="s"><v>{index[value]}</v></c>')
        yield f'<row r="{number}">{"".join(cells)}</row>'.encode()
    yield b"</sheetData></worksheet>"


def strings_xml(strings: list[str]) -> Iterator[bytes]:
    yield (
        f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{NS}" '
        f'count="{len(strings)}" uniqueCount="{len(strings)}">'
    ).encode()
    for text in strings:
        yield f"<si><t>{_escape(text)}</t></si>".encode()
    yield b"</sst>"


def write_xlsx(
    target: str | Path | io.BytesIO,
    *,
    sheet: Iterable[bytes],
    strings: Iterable[bytes] | None = None,
    workbook: str = _WORKBOOK,
) -> None:
    """An XLSX whose sheet and shared strings are streamed, chunk by chunk."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("_rels/.rels", _ROOT_RELS)
        archive.writestr("xl/workbook.xml", workbook)
        archive.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        # The sheet is written first: it fills the string table.
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as out:
            for chunk in sheet:
                out.write(chunk)
        with archive.open("xl/sharedStrings.xml", "w", force_zip64=True) as out:
            for chunk in strings if strings is not None else strings_xml([]):
                out.write(chunk)


def xlsx_bytes(rows: list[list[str]]) -> bytes:
    strings: list[str] = []
    buffer = io.BytesIO()
    sheet = list(sheet_xml(rows, strings))
    write_xlsx(buffer, sheet=sheet, strings=strings_xml(strings))
    return buffer.getvalue()


def csv_text(rows: list[list[str]], delimiter: str = ";") -> str:
    def cell(value: str) -> str:
        if any(ch in value for ch in (delimiter, '"', "\n")):
            return '"' + value.replace('"', '""') + '"'
        return value

    return "".join(delimiter.join(map(cell, row)) + "\r\n" for row in rows)


# -- bombs: (sheet chunks, string chunks), streamed -------------------------


def repeat(chunk: bytes, total: int) -> Iterator[bytes]:
    for _ in range(total // len(chunk)):
        yield chunk
    yield chunk[: total % len(chunk)]


def long_string_bomb(path: str | Path | io.BytesIO, size: int) -> None:
    """One shared string of ``size`` characters (the 311 KB, 300 MB case)."""
    head = (
        f'<?xml version="1.0"?><sst xmlns="{NS}"><si><t>a@example.com</t></si><si><t>'
    )
    strings = [head.encode(), *repeat(b"x" * 65536, size), b"</t></si></sst>"]
    sheet = [
        f'<?xml version="1.0"?><worksheet xmlns="{NS}"><sheetData>'
        '<row r="1"><c r="A1" t="inlineStr"><is><t>email</t></is></c>'
        '<c r="B1" t="inlineStr"><is><t>first name</t></is></c></row>'
        '<row r="2"><c r="A2" t="s"><v>0</v></c><c r="B2" t="s"><v>1</v></c></row>'
        "</sheetData></worksheet>".encode()
    ]
    write_xlsx(path, sheet=sheet, strings=strings)


def _sheet_head() -> bytes:
    return (
        f'<?xml version="1.0"?><worksheet xmlns="{NS}"><sheetData>'
        '<row r="1"><c r="A1" t="inlineStr"><is><t>email</t></is></c></row>'
    ).encode()


def many_rows_bomb(path: str | Path | io.BytesIO, rows: int) -> None:
    """``rows`` identical rows in the sheet XML (2,000,000 rows in 16 MB)."""
    row = b'<row><c t="inlineStr"><is><t>a@example.com</t></is></c></row>'
    sheet = [
        _sheet_head(),
        *repeat(row * 1000, len(row) * rows),
        b"</sheetData></worksheet>",
    ]
    write_xlsx(path, sheet=sheet)


def wide_row_bomb(path: str | Path | io.BytesIO, cells: int) -> None:
    """One row of ``cells`` cells in the sheet XML."""
    cell = b"<c><v>1</v></c>"
    sheet = [
        _sheet_head(),
        b'<row r="2">',
        *repeat(cell * 4096, len(cell) * cells),
        b"</row></sheetData></worksheet>",
    ]
    write_xlsx(path, sheet=sheet)


def inline_string_bomb(path: str | Path | io.BytesIO, size: int) -> None:
    """One inline string of ``size`` characters in the sheet XML."""
    sheet = [
        _sheet_head(),
        b'<row r="2"><c r="A2" t="inlineStr"><is><t>',
        *repeat(b"y" * 65536, size),
        b"</t></is></c></row></sheetData></worksheet>",
    ]
    write_xlsx(path, sheet=sheet)


def laughs_xlsx(part: str) -> bytes:
    """Billion laughs in the shared strings, the sheet or the workbook part."""
    body = (
        LAUGHS.replace("lolz", "sst")
        + f'<sst xmlns="{NS}"><si><t>&lol9;</t></si></sst>'
    )
    buffer = io.BytesIO()
    if part == "strings":
        sheet = [
            _sheet_head() + b'<row r="2"><c r="A2" t="s"><v>0</v></c></row>'
            b"</sheetData></worksheet>"
        ]
        write_xlsx(buffer, sheet=sheet, strings=[body.encode()])
    elif part == "sheet":
        sheet = LAUGHS.replace("lolz", "worksheet") + (
            f'<worksheet xmlns="{NS}"><sheetData><row r="1"><c r="A1" '
            't="inlineStr"><is><t>&lol9;</t></is></c></row></sheetData></worksheet>'
        )
        write_xlsx(buffer, sheet=[sheet.encode()])
    else:
        workbook = LAUGHS.replace("lolz", "workbook") + _WORKBOOK.split("?>", 1)[
            1
        ].replace('name="Staff"', 'name="&lol9;"')
        write_xlsx(
            buffer,
            sheet=[_sheet_head() + b"</sheetData></worksheet>"],
            workbook=workbook,
        )
    return buffer.getvalue()


def lying_directory(data: bytes, *, declared: int = 100) -> bytes:
    """The sheet's sizes in the local header and central directory say
    ``declared`` bytes; its data is much more."""
    out = bytearray(data)
    name = b"xl/worksheets/sheet1.xml"
    for signature, size_at, name_at in (
        (b"PK\x01\x02", 24, 46),
        (b"PK\x03\x04", 22, 30),
    ):
        at = out.find(signature)
        while at >= 0:
            if out[at + name_at : at + name_at + len(name)] == name:
                if out[at + size_at : at + size_at + 4] != b"\xff\xff\xff\xff":
                    out[at + size_at : at + size_at + 4] = declared.to_bytes(
                        4, "little"
                    )
            at = out.find(signature, at + 4)
    return bytes(out)


def declared_bomb(path: str | Path | io.BytesIO, declared: int) -> None:
    """A small XLSX whose directory declares a sheet of ``declared`` bytes:
    refused on its directory alone, before a byte is inflated."""
    data = lying_directory(xlsx_bytes([HEADER, *PEOPLE]), declared=declared)
    if isinstance(path, io.BytesIO):
        path.write(data)
    else:
        Path(path).write_bytes(data)


def many_parts_zip(parts: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for number in range(parts):
            archive.writestr(f"p{number}", b"")
    return buffer.getvalue()


# -- the corpus -------------------------------------------------------------


def _flip(rng: random.Random, data: bytes, flips: int) -> bytes:
    out = bytearray(data)
    for _ in range(flips):
        out[rng.randrange(len(out))] = rng.randrange(256)
    return bytes(out)


def _recompress(data: bytes, mutate) -> bytes:
    """The same XLSX with each XML part passed through ``mutate``."""
    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            archive.writestr(info.filename, mutate(info.filename, source.read(info)))
    return buffer.getvalue()


def corpus(seed: int = 20261204, *, scale: int = 1) -> Iterator[tuple[str, str, bytes]]:
    """(case, file name, content). ``scale`` multiplies the sizes meant to pass
    the tests' scaled-down limits (see the test module's LIMITS)."""
    rng = random.Random(seed)
    rows = [HEADER, *PEOPLE]
    text = csv_text(rows)
    valid_csv = text.encode("utf-8")
    valid_cp1252 = text.encode("cp1252", errors="replace")
    valid_xlsx = xlsx_bytes(rows)
    yield "valid csv", "staff.csv", valid_csv
    yield "valid xlsx", "staff.xlsx", valid_xlsx
    for number in range(40):
        yield (
            f"csv flip {number}",
            "staff.csv",
            _flip(rng, valid_csv, rng.randint(1, 8)),
        )
    for number in range(40):
        yield (
            f"xlsx flip {number}",
            "staff.xlsx",
            _flip(rng, valid_xlsx, rng.randint(1, 8)),
        )
    for number in range(15):
        cut = rng.randrange(1, len(valid_csv))
        yield f"csv truncated {number} at {cut}", "staff.csv", valid_csv[:cut]
    for number in range(15):
        cut = rng.randrange(1, len(valid_xlsx))
        yield f"xlsx truncated {number} at {cut}", "staff.xlsx", valid_xlsx[:cut]
    for encoding in ("utf-16", "utf-16-le", "utf-16-be", "utf-32", "cp1252", "latin-1",
                     "mac-roman", "cp437", "shift_jis", "utf-7", "koi8-r", "big5"):  # fmt: skip
        yield f"csv in {encoding}", "staff.csv", text.encode(encoding, errors="replace")
    yield "cp1252 with utf-8 BOM", "staff.csv", codecs.BOM_UTF8 + valid_cp1252
    yield "utf-16 BOM, utf-8 body", "staff.csv", codecs.BOM_UTF16_LE + valid_csv
    for number in range(12):
        at = rng.randrange(len(valid_csv))
        yield (
            f"NUL {number} at {at}",
            "staff.csv",
            valid_csv[:at] + b"\x00" + valid_csv[at:],
        )
    padding = csv_text(
        [[f"p{n}@example.com", "P", "Q", "IT", "fr", ""] for n in range(3000)]
    )
    big = (text + padding).encode()
    for number in range(6):
        at = rng.randrange(70_000, len(big))
        at = big.index(b";", at) + 1  # inside a cell after the first 64 KB
        yield (
            f"NUL after 64 KB {number} at {at}",
            "staff.csv",
            big[:at] + b"\x00" + big[at:],
        )
    yield (
        "NUL in email after 64 KB",
        "staff.csv",
        big + b"nul\x00@example.com;N;U;IT;fr;\r\n",
    )
    yield "xlsx renamed csv", "staff.csv", valid_xlsx
    yield "csv renamed xlsx", "staff.xlsx", valid_csv
    yield "pdf renamed csv", "staff.csv", b"%PDF-1.4\n" + bytes(rng.randbytes(200))
    yield (
        "xls renamed xlsx",
        "staff.xlsx",
        b"\xd0\xcf\x11\xe0" + bytes(rng.randbytes(500)),
    )
    yield "empty", "staff.csv", b""
    yield "random bytes", "staff.csv", rng.randbytes(3000)
    yield "random zip header", "staff.xlsx", b"PK\x03\x04" + rng.randbytes(3000)

    def drop(name: str, wanted: str):
        return lambda part, data: b"" if part == wanted else data

    for part in ("xl/workbook.xml", "xl/worksheets/sheet1.xml", "xl/sharedStrings.xml",
                 "[Content_Types].xml", "_rels/.rels", "xl/_rels/workbook.xml.rels"):  # fmt: skip
        yield (
            f"xlsx with {part} emptied",
            "staff.xlsx",
            _recompress(valid_xlsx, drop("", part)),
        )
        yield (
            f"xlsx with {part} flipped",
            "staff.xlsx",
            _recompress(
                valid_xlsx,
                lambda name, data, part=part: (
                    _flip(rng, data, 5) if name == part else data
                ),
            ),
        )
        yield (
            f"xlsx with {part} cut",
            "staff.xlsx",
            _recompress(
                valid_xlsx,
                lambda name, data, part=part: (
                    data[: len(data) // 2] if name == part else data
                ),
            ),
        )
    for part in ("strings", "sheet", "workbook"):
        yield f"billion laughs in {part}", "staff.xlsx", laughs_xlsx(part)
    yield "billion laughs as csv", "staff.csv", laughs_xlsx("strings")
    yield (
        "lying central directory",
        "staff.xlsx",
        lying_directory(_bomb(many_rows_bomb, 3000 * scale)),
    )
    yield "too many parts", "staff.xlsx", many_parts_zip(12_000)
    # Over the scaled-down limits of the tests (cells 1,000, columns 50,
    # rows 2,000, uncompressed 4 MB); the real-size ones are separate.
    yield "shared string bomb", "staff.xlsx", _bomb(long_string_bomb, 200_000 * scale)
    yield "inline string bomb", "staff.xlsx", _bomb(inline_string_bomb, 200_000 * scale)
    yield "many rows bomb", "staff.xlsx", _bomb(many_rows_bomb, 5_000 * scale)
    yield "wide row bomb", "staff.xlsx", _bomb(wide_row_bomb, 20_000 * scale)
    yield "uncompressed bomb", "staff.xlsx", _bomb(long_string_bomb, 6_000_000 * scale)
    wide = [[f"c{n}" for n in range(1200)], ["a@example.com"] * 1200]
    yield (
        "1,200 columns csv",
        "staff.csv",
        csv_text([["email", *wide[0][1:]], wide[1]]).encode(),
    )
    yield (
        "1,200 columns xlsx",
        "staff.xlsx",
        xlsx_bytes([["email", *wide[0][1:]], wide[1]]),
    )
    yield (
        "1,200 delimiters",
        "staff.csv",
        b"email" + b";" * 1200 + b"\r\na@example.com\r\n",
    )
    yield (
        "10 MB line",
        "staff.csv",
        b"email;name\r\na@example.com;" + b"z" * 10_000_000 + b"\r\n",
    )
    yield "10 MB line of cells", "staff.csv", b"email\r\n" + b"a;" * 5_000_000 + b"\r\n"
    yield (
        "10 MB quoted cell",
        "staff.csv",
        b'email;name\r\na@example.com;"' + b"q\n" * 5_000_000 + b'"\r\n',
    )
    yield (
        "a row of a million quoted line breaks",
        "staff.csv",
        b"email;name\r\na@example.com;" + b'"\n";' * 1_000_000 + b"\r\n",
    )
    yield (
        "many rows csv",
        "staff.csv",
        ("email\r\n" + "a@example.com\r\n" * 5000).encode(),
    )
    for number in range(20):
        cells = [rng.choice(["", "a@b.co", "=1+1", "\x00", "\u202e", "é" * 300, '"', ";"])
                 for _ in range(rng.randint(1, 8))]  # fmt: skip
        mixed = csv_text([HEADER, *PEOPLE[:2], cells]).encode("utf-8")
        yield f"mixed cells {number}", "staff.csv", mixed
        yield f"mixed cells xlsx {number}", "staff.xlsx", xlsx_bytes([HEADER, cells])


def _bomb(builder, size: int) -> bytes:
    buffer = io.BytesIO()
    builder(buffer, size)
    return buffer.getvalue()
