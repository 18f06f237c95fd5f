"""What a file holds, from its first bytes: so that a file whose content is not what its
suffix says (a CSV named .xlsx, a workbook named .csv) is refused, saying what it holds."""

from __future__ import annotations

import codecs
import zipfile
from pathlib import Path

SNIFFED = 64 * 1024  # bytes read to tell text from binary data
BOMS = {codecs.BOM_UTF8: "utf-8-sig", codecs.BOM_UTF16_LE: "utf-16", codecs.BOM_UTF16_BE: "utf-16"}
MAGIC = {  # leading bytes -> content kind
    b"PAR1": "parquet",
    b"PK\x03\x04": "zip",
    b"PK\x05\x06": "zip",  # an empty zip archive
    b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1": "xls",
    b"\x1f\x8b": "gzip",
}
DESCRIBED = {
    "empty": "nothing (it is empty)",
    "text": "text",
    "json": "JSON text",
    "parquet": "Parquet data",
    "xlsx": "an Excel workbook (xlsx)",
    "zip": "a zip archive",
    "xls": "an old Excel workbook (.xls) or another Office file",
    "gzip": "gzip-compressed data",
    "binary": 'binary data, or text not in UTF-8 (Excel: save it as "CSV UTF-8")',
}


def kind(path: Path) -> str:
    """What `path` holds: one of the keys of `DESCRIBED`."""
    with open(path, "rb") as handle:
        head = handle.read(SNIFFED)
    if not head:
        return "empty"
    for magic, found in MAGIC.items():
        if head.startswith(magic):
            return "xlsx" if found == "zip" and _is_workbook(path) else found
    return _text_kind(head, complete=len(head) < SNIFFED)


def encoding(path: Path) -> str:
    """The encoding of a text file: UTF-16 after its byte order mark, else UTF-8 (a byte
    order mark, as Excel writes one, is skipped)."""
    with open(path, "rb") as handle:
        head = handle.read(3)
    return next((name for bom, name in BOMS.items() if head.startswith(bom)), "utf-8-sig")


def _is_workbook(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return "xl/workbook.xml" in archive.namelist()
    except zipfile.BadZipFile:
        return False


def _text_kind(head: bytes, complete: bool) -> str:
    """ "json", "text" or "binary": text is UTF-8 (or UTF-16 after its mark) to the end of
    `head` (a character cut at its end is fine unless `complete`)."""
    name = next((name for bom, name in BOMS.items() if head.startswith(bom)), "utf-8-sig")
    try:
        text = codecs.getincrementaldecoder(name)().decode(head, final=complete)
    except UnicodeDecodeError:
        return "binary"
    return "json" if text.lstrip()[:1] in ("{", "[") else "text"
