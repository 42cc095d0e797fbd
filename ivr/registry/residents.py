"""The residents registry (一户一档), imported from a spreadsheet's CSV export.

Imports are all-or-nothing: every row is checked before anything is written, so
a half-imported estate never greets some callers by name and not their neighbours.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.models import Resident, Unit
from ivr.registry.demo_estate import DEMO_ESTATE_CSV
from ivr.store.db import Database

HEADER = ("building", "unit", "room", "name", "phone", "language")
LANGUAGES = ("zh-CN", "en-US")
DEFAULT_LANGUAGE = "zh-CN"
MAX_PLACE_CHARS = 16
MAX_NAME_CHARS = 64

_PLACE = re.compile(rf"[A-Z0-9]{{1,{MAX_PLACE_CHARS}}}")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
# What people type between digits; stripping it lets "+86 138-0013-8000" through.
_PHONE_SEPARATORS = re.compile(r"[\s\-().]")

Place = tuple[str, str, str]  # building, entrance, room


class RegistryImportError(ValueError):
    """The file was refused; `problems` says why, one line each, with row numbers."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__(f"nothing was imported: {len(problems)} problem(s)")
        self.problems = tuple(problems)


@dataclass(frozen=True)
class ResidentRow:
    """One checked row of the file; `row` counts as a spreadsheet does (header = 1)."""

    row: int
    building: str
    entrance: str
    room: str
    name: str
    phone: str
    language: str

    @property
    def place(self) -> Place:
        return (self.building, self.entrance, self.room)


@dataclass
class ImportReport:
    rows: int = 0
    units_created: int = 0
    residents_created: int = 0
    residents_updated: int = 0
    residents_unchanged: int = 0

    def summary(self) -> str:
        return (
            f"{self.rows} rows, {self.units_created} units created,"
            f" {self.residents_created} residents created, {self.residents_updated} updated,"
            f" {self.residents_unchanged} unchanged"
        )


def normalise_phone(raw: str) -> str:
    """A number as we store and look it up: separators dropped, 00 prefix as +."""
    number = _PHONE_SEPARATORS.sub("", _halfwidth(raw))
    return "+" + number[2:] if number.startswith("00") else number


def _halfwidth(text: str) -> str:
    # Chinese spreadsheets often hold full-width digits and letters (１２Ｆ, ＋８６).
    return unicodedata.normalize("NFKC", text)


def place_text(raw: str) -> str:
    """A building, entrance or room as stored: "3a" and "３Ａ" are both building 3A."""
    return _halfwidth(raw).upper()


def is_e164(number: str) -> bool:
    return _E164.fullmatch(number) is not None


# --- importing ----------------------------------------------------------------------------


def import_residents(session: Session, source: str | Path) -> ImportReport:
    """Check the whole CSV (a Path is read as a file, a str is the text), then upsert it.

    Raises RegistryImportError listing every problem, having written nothing. The
    caller commits; residents missing from the file are kept (the file may be partial).
    """
    rows = check_rows(read_csv_text(source))
    return upsert_residents(session, rows)


def read_csv_text(source: str | Path) -> str:
    if not isinstance(source, Path):
        return source.removeprefix("\ufeff")
    raw = source.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        # Excel's plain "CSV" is GBK on Chinese Windows: say how to save it instead.
        row = raw[: exc.start].count(b"\n") + 1
        raise RegistryImportError(
            [f"row {row}: {source.name} is not UTF-8 text; in Excel save it as 'CSV UTF-8'"]
        ) from exc


Problem = tuple[int, str]  # row number, message


def check_rows(text: str) -> list[ResidentRow]:
    """Every row checked; raises with all the problems, in row order, if there are any."""
    checked = [_check_row(number, cells) for number, cells in _records_under_header(text)]
    rows = [row for _, row in checked if row]
    problems = [problem for found, _ in checked for problem in found]
    problems += _duplicate_problems(rows)
    if problems:
        raise RegistryImportError([message for _, message in sorted(problems, key=itemgetter(0))])
    return rows


def _records_under_header(text: str) -> list[tuple[int, list[str]]]:
    try:
        records = list(_numbered_records(text))
    except csv.Error as exc:
        raise RegistryImportError([f"the file is not readable as CSV: {exc}"]) from exc
    if not records:
        raise RegistryImportError([_header_problem(1, [])])
    number, header = records[0]
    if header != list(HEADER):
        raise RegistryImportError([_header_problem(number, header)])
    return records[1:]


def _numbered_records(text: str) -> Iterator[tuple[int, list[str]]]:
    """Non-blank records with their spreadsheet row numbers, cells stripped."""
    for number, cells in enumerate(csv.reader(io.StringIO(text)), start=1):
        stripped = [cell.strip() for cell in cells]
        if any(stripped):
            yield number, _without_trailing_blanks(stripped)


def _without_trailing_blanks(cells: list[str]) -> list[str]:
    # Spreadsheets often save a trailing comma or two after the last column.
    while len(cells) > len(HEADER) and not cells[-1]:
        cells.pop()
    return cells


def _header_problem(number: int, found: list[str]) -> str:
    shown = ",".join(found) if found else "an empty file"
    return f"row {number}: the header must be exactly {','.join(HEADER)} (found {shown})"


def _check_row(number: int, cells: list[str]) -> tuple[list[Problem], ResidentRow | None]:
    if len(cells) != len(HEADER):
        return [(number, f"row {number}: expected {len(HEADER)} columns, found {len(cells)}")], None
    building, entrance, room, name, phone, language = cells
    problems = [
        (number, f"row {number}: {problem}")
        for problem in (
            _place_problem("building", building, required=True),
            _place_problem("unit", entrance, required=False),
            _place_problem("room", room, required=True),
            _name_problem(name),
            _phone_problem(phone),
            _language_problem(language),
        )
        if problem
    ]
    if problems:
        return problems, None
    row = ResidentRow(
        row=number,
        building=place_text(building),
        entrance=place_text(entrance),
        room=place_text(room),
        name=name,
        phone=normalise_phone(phone),
        language=language or DEFAULT_LANGUAGE,
    )
    return [], row


def _place_problem(column: str, value: str, required: bool) -> str:
    if not value:
        return f"{column} is required" if required else ""
    if _PLACE.fullmatch(place_text(value)):
        return ""
    return f"{column} must be 1-{MAX_PLACE_CHARS} letters or digits, not {value!r}"


def _name_problem(name: str) -> str:
    if not name:
        return "name is required"
    if len(name) > MAX_NAME_CHARS:
        return f"name is longer than {MAX_NAME_CHARS} characters"
    return ""


def _phone_problem(phone: str) -> str:
    if not phone:
        return "phone is required"
    if is_e164(normalise_phone(phone)):
        return ""
    return f"phone {phone!r} is not E.164 (+ and country code, e.g. +8613800138000)"


def _language_problem(language: str) -> str:
    if not language or language in LANGUAGES:
        return ""
    return (
        f"language {language!r} must be {' or '.join(LANGUAGES)} (empty means {DEFAULT_LANGUAGE})"
    )


def _duplicate_problems(rows: list[ResidentRow]) -> list[Problem]:
    first_seen: dict[tuple[Place, str], int] = {}
    problems: list[Problem] = []
    for row in rows:
        key = (row.place, row.phone)
        if key in first_seen:
            message = f"row {row.row}: the same unit and phone as row {first_seen[key]}"
            problems.append((row.row, message))
        else:
            first_seen[key] = row.row
    return problems


# --- writing ------------------------------------------------------------------------------


def upsert_residents(session: Session, rows: list[ResidentRow]) -> ImportReport:
    """Units by (building, entrance, room), residents by (unit, phone); flushed, not committed."""
    report = ImportReport(rows=len(rows))
    units = _units_by_place(session)
    residents = _residents_by_place_and_phone(session)
    for row in rows:
        unit = units.get(row.place) or _new_unit(session, units, row, report)
        resident = residents.get((row.place, row.phone))
        if resident is None:
            residents[(row.place, row.phone)] = _new_resident(session, unit, row, report)
        else:
            _update_resident(resident, row, report)
    session.flush()
    return report


def _units_by_place(session: Session) -> dict[Place, Unit]:
    return {(u.building, u.entrance, u.room): u for u in session.scalars(select(Unit))}


def _residents_by_place_and_phone(session: Session) -> dict[tuple[Place, str], Resident]:
    found = session.execute(select(Resident, Unit).join(Unit, Resident.unit_id == Unit.id))
    return {
        ((unit.building, unit.entrance, unit.room), resident.phone): resident
        for resident, unit in found
    }


def _new_unit(
    session: Session, units: dict[Place, Unit], row: ResidentRow, report: ImportReport
) -> Unit:
    unit = Unit(building=row.building, entrance=row.entrance, room=row.room)
    session.add(unit)
    units[row.place] = unit
    report.units_created += 1
    return unit


def _new_resident(session: Session, unit: Unit, row: ResidentRow, report: ImportReport) -> Resident:
    resident = Resident(unit=unit, name=row.name, phone=row.phone, language=row.language)
    session.add(resident)
    report.residents_created += 1
    return resident


def _update_resident(resident: Resident, row: ResidentRow, report: ImportReport) -> None:
    if (resident.name, resident.language) == (row.name, row.language):
        report.residents_unchanged += 1
        return
    resident.name, resident.language = row.name, row.language
    report.residents_updated += 1


# --- the demo estate ----------------------------------------------------------------------


def registry_is_empty(session: Session) -> bool:
    return session.scalars(select(Resident.id).limit(1)).first() is None


def load_demo_estate(session: Session) -> ImportReport:
    """The built-in demo estate, so a fresh install has callers to recognise."""
    return import_residents(session, DEMO_ESTATE_CSV)


def load_demo_estate_if_empty(session: Session) -> ImportReport | None:
    """Seed a fresh install; a registry with anyone in it is never touched."""
    return load_demo_estate(session) if registry_is_empty(session) else None


@contextmanager
def registry_session(database_url: str) -> Iterator[Session]:
    """One committed unit of work on an engine of its own, for the CLI and `ivr run`."""
    db = Database(database_url)
    try:
        with db.session() as session:
            yield session
    finally:
        db.dispose()
