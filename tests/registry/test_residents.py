"""The residents registry (一户一档): CSV import, the demo estate and their commands."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from ivr.cli import main
from ivr.config import load_settings
from ivr.models import Resident, Unit
from ivr.registry.demo_estate import DEMO_ESTATE_CSV
from ivr.registry.residents import (
    ImportReport,
    RegistryImportError,
    import_residents,
    load_demo_estate,
    load_demo_estate_if_empty,
)
from ivr.runner import RunPlan, _introduce
from ivr.store.db import Database

HEADER = "building,unit,room,name,phone,language\n"

Stored = tuple[str, str, str, str, str, str]  # building, entrance, room, name, phone, language


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


def stored_residents(db: Database) -> list[Stored]:
    with db.reader() as session:
        query = select(
            Unit.building, Unit.entrance, Unit.room, Resident.name, Resident.phone
        ).add_columns(Resident.language)
        query = query.join(Resident.unit).order_by(
            Unit.building, Unit.entrance, Unit.room, Resident.phone
        )
        return [tuple(row) for row in session.execute(query)]


def import_text(db: Database, text: str) -> ImportReport:
    with db.session() as session:
        return import_residents(session, text)


def refused(db: Database, text: str) -> list[str]:
    with pytest.raises(RegistryImportError) as failure:
        import_text(db, text)
    return list(failure.value.problems)


# --- one row at a time --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "stored"),
    [
        (
            "3,2,501,张伟,+8613800138000,zh-CN",
            ("3", "2", "501", "张伟", "+8613800138000", "zh-CN"),
        ),
        ("3,2,501,张伟,+8613800138000,", ("3", "2", "501", "张伟", "+8613800138000", "zh-CN")),
        ("5,,1601,赵磊,+8613800138006,zh-CN", ("5", "", "1601", "赵磊", "+8613800138006", "zh-CN")),
        (
            '3,1,802,"Smith, David",+14155550100,en-US',
            ("3", "1", "802", "Smith, David", "+14155550100", "en-US"),
        ),
        (
            " a3 , b , 12f ,  王芳 , +86 138-0013-8001 ,zh-CN",
            ("A3", "B", "12F", "王芳", "+8613800138001", "zh-CN"),
        ),
        (
            "３,Ａ,１２ｆ,张伟,＋８６ １３８００１３８０００,zh-CN",
            ("3", "A", "12F", "张伟", "+8613800138000", "zh-CN"),
        ),
        (
            "1,1,101,张伟,008613800138000,zh-CN",
            ("1", "1", "101", "张伟", "+8613800138000", "zh-CN"),
        ),
        (
            "1,1,101,张伟,+8613800138000,zh-CN,,",
            ("1", "1", "101", "张伟", "+8613800138000", "zh-CN"),
        ),
        ("1,1,101,张伟,+1234567,zh-CN", ("1", "1", "101", "张伟", "+1234567", "zh-CN")),
        (
            "1,1,101,张伟,+123456789012345,zh-CN",
            ("1", "1", "101", "张伟", "+123456789012345", "zh-CN"),
        ),
        (
            "1234567890ABCDEF,1,101,张伟,+8613800138000,zh-CN",
            ("1234567890ABCDEF", "1", "101", "张伟", "+8613800138000", "zh-CN"),
        ),
        (
            f"1,1,101,{'名' * 64},+8613800138000,zh-CN",
            ("1", "1", "101", "名" * 64, "+8613800138000", "zh-CN"),
        ),
    ],
)
def test_a_good_row_is_stored_normalised(db: Database, row: str, stored: Stored) -> None:
    report = import_text(db, HEADER + row + "\n")
    assert report == ImportReport(rows=1, units_created=1, residents_created=1)
    assert stored_residents(db) == [stored]


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        (",1,101,张伟,+8613800138000,zh-CN", "row 2: building is required"),
        (
            "A-3,1,101,张伟,+8613800138000,zh-CN",
            "row 2: building must be 1-16 letters or digits, not 'A-3'",
        ),
        (
            "3栋,1,101,张伟,+8613800138000,zh-CN",
            "row 2: building must be 1-16 letters or digits, not '3栋'",
        ),
        (
            "1234567890ABCDEFG,1,101,张伟,+8613800138000,zh-CN",
            "row 2: building must be 1-16 letters or digits, not '1234567890ABCDEFG'",
        ),
        (
            "3,2单元,101,张伟,+8613800138000,zh-CN",
            "row 2: unit must be 1-16 letters or digits, not '2单元'",
        ),
        ("3,1,,张伟,+8613800138000,zh-CN", "row 2: room is required"),
        (
            "3,1,50 1,张伟,+8613800138000,zh-CN",
            "row 2: room must be 1-16 letters or digits, not '50 1'",
        ),
        ("3,1,101,,+8613800138000,zh-CN", "row 2: name is required"),
        (f"3,1,101,{'名' * 65},+8613800138000,zh-CN", "row 2: name is longer than 64 characters"),
        ("3,1,101,张伟,,zh-CN", "row 2: phone is required"),
        (
            "3,1,101,张伟,13800138000,zh-CN",
            "row 2: phone '13800138000' is not E.164 (+ and country code, e.g. +8613800138000)",
        ),
        (
            "3,1,101,张伟,+08613800138000,zh-CN",
            "row 2: phone '+08613800138000' is not E.164 (+ and country code, e.g. +8613800138000)",
        ),
        (
            "3,1,101,张伟,+123456,zh-CN",
            "row 2: phone '+123456' is not E.164 (+ and country code, e.g. +8613800138000)",
        ),
        (
            "3,1,101,张伟,+1234567890123456,zh-CN",
            "row 2: phone '+1234567890123456' is not E.164 (+ and country code, e.g. +8613800138000)",
        ),
        (
            "3,1,101,张伟,+86138001380OO,zh-CN",
            "row 2: phone '+86138001380OO' is not E.164 (+ and country code, e.g. +8613800138000)",
        ),
        (
            "3,1,101,张伟,+8613800138000,zh",
            "row 2: language 'zh' must be zh-CN or en-US (empty means zh-CN)",
        ),
        (
            "3,1,101,张伟,+8613800138000,EN-us",
            "row 2: language 'EN-us' must be zh-CN or en-US (empty means zh-CN)",
        ),
        ("3,1,101,张伟,+8613800138000", "row 2: expected 6 columns, found 5"),
        ("3,1,101,张伟,+8613800138000,zh-CN,extra", "row 2: expected 6 columns, found 7"),
    ],
)
def test_a_bad_row_is_refused_with_its_row_number(db: Database, row: str, problem: str) -> None:
    assert refused(db, HEADER + row + "\n") == [problem]
    assert stored_residents(db) == []


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "",
            "row 1: the header must be exactly building,unit,room,name,phone,language (found an empty file)",
        ),
        (
            "\n\n",
            "row 1: the header must be exactly building,unit,room,name,phone,language (found an empty file)",
        ),
        (
            "building,room,unit,name,phone,language\n",
            "row 1: the header must be exactly building,unit,room,name,phone,language (found building,room,unit,name,phone,language)",
        ),
        (
            "building,unit,room,name,phone\n",
            "row 1: the header must be exactly building,unit,room,name,phone,language (found building,unit,room,name,phone)",
        ),
        (
            "楼栋,单元,房号,姓名,电话,语言\n",
            "row 1: the header must be exactly building,unit,room,name,phone,language (found 楼栋,单元,房号,姓名,电话,语言)",
        ),
        (
            "3,2,501,张伟,+8613800138000,zh-CN\n",
            "row 1: the header must be exactly building,unit,room,name,phone,language (found 3,2,501,张伟,+8613800138000,zh-CN)",
        ),
        (
            "Building,Unit,Room,Name,Phone,Language\n",
            "row 1: the header must be exactly building,unit,room,name,phone,language (found Building,Unit,Room,Name,Phone,Language)",
        ),
    ],
)
def test_the_header_must_be_exact(db: Database, text: str, problem: str) -> None:
    assert refused(db, text) == [problem]


def test_the_header_problem_names_the_row_it_is_on(db: Database) -> None:
    assert refused(db, "\nbuilding;unit;room;name;phone;language\n") == [
        "row 2: the header must be exactly building,unit,room,name,phone,language"
        " (found building;unit;room;name;phone;language)"
    ]


def test_a_file_csv_cannot_read_is_refused(db: Database) -> None:
    text = HEADER + "1,1,101," + "名" * 200_000 + ",+8613800138000,zh-CN\n"
    assert refused(db, text) == [
        "the file is not readable as CSV: field larger than field limit (131072)"
    ]


def test_a_header_alone_imports_nothing(db: Database) -> None:
    assert import_text(db, HEADER) == ImportReport()


# --- the whole file -----------------------------------------------------------------------


def test_every_problem_is_reported_and_nothing_is_imported(db: Database) -> None:
    text = (
        HEADER
        + "1,1,101,张伟,+8613800138000,zh-CN\n"  # row 2: good
        + "1,1,102,,13800138001,fr-FR\n"  # row 3: three problems
        + "\n"  # row 4: blank, skipped but counted as a spreadsheet counts it
        + "1,1,101,张伟伟,+8613800138000,zh-CN\n"  # row 5: repeats row 2's unit and phone
        + "2,1,1203,刘洋,+8613800138003\n"  # row 6: a column short
    )
    assert refused(db, text) == [
        "row 3: name is required",
        "row 3: phone '13800138001' is not E.164 (+ and country code, e.g. +8613800138000)",
        "row 3: language 'fr-FR' must be zh-CN or en-US (empty means zh-CN)",
        "row 5: the same unit and phone as row 2",
        "row 6: expected 6 columns, found 5",
    ]
    assert stored_residents(db) == []


def test_a_refused_file_leaves_the_registry_as_it_was(db: Database) -> None:
    import_text(db, HEADER + "1,1,101,张伟,+8613800138000,zh-CN\n")
    text = HEADER + "1,1,101,张伟（业主）,+8613800138000,en-US\n1,1,102,王芳,+86,zh-CN\n"
    assert refused(db, text) == [
        "row 3: phone '+86' is not E.164 (+ and country code, e.g. +8613800138000)"
    ]
    assert stored_residents(db) == [("1", "1", "101", "张伟", "+8613800138000", "zh-CN")]


def test_the_same_phone_may_hold_several_units_and_a_unit_several_phones(db: Database) -> None:
    text = (
        HEADER
        + "1,1,101,张伟,+8613800138000,zh-CN\n"
        + "3,2,501,张伟,+8613800138000,zh-CN\n"
        + "1,1,101,李娜,+8613800138002,zh-CN\n"
    )
    assert import_text(db, text) == ImportReport(rows=3, units_created=2, residents_created=3)


def test_reimporting_updates_names_and_languages_and_adds_newcomers(db: Database) -> None:
    import_text(
        db,
        HEADER + "1,1,101,张伟,+8613800138000,zh-CN\n3,1,802,David,+8613800138005,zh-CN\n",
    )
    report = import_text(
        db,
        HEADER
        + "1,1,101,张伟,+8613800138000,zh-CN\n"  # unchanged
        + "3,1,802,David Smith,+8613800138005,en-US\n"  # renamed, now English
        + "3,1,802,Mary Smith,+8613800138007,en-US\n"  # moves into an existing unit
        + "3,1,803,李娜,+8613800138002,\n",  # a new unit
    )
    assert report == ImportReport(
        rows=4, units_created=1, residents_created=2, residents_updated=1, residents_unchanged=1
    )
    assert stored_residents(db) == [
        ("1", "1", "101", "张伟", "+8613800138000", "zh-CN"),
        ("3", "1", "802", "David Smith", "+8613800138005", "en-US"),
        ("3", "1", "802", "Mary Smith", "+8613800138007", "en-US"),
        ("3", "1", "803", "李娜", "+8613800138002", "zh-CN"),
    ]


def test_letters_in_places_are_one_unit_whatever_their_case(db: Database) -> None:
    import_text(db, HEADER + "a3,b,12f,王芳,+8613800138001,zh-CN\n")
    report = import_text(db, HEADER + "A3,B,12F,王芳,+8613800138001,zh-CN\n")
    assert report == ImportReport(rows=1, residents_unchanged=1)


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"], ids=["plain", "bom"])
def test_a_utf8_file_imports_with_or_without_a_bom(
    db: Database, tmp_path: Path, bom: bytes
) -> None:
    path = tmp_path / "residents.csv"
    path.write_bytes(bom + (HEADER + "3,2,501,张伟,+8613800138000,zh-CN\r\n").encode())
    with db.session() as session:
        report = import_residents(session, path)
    assert report == ImportReport(rows=1, units_created=1, residents_created=1)
    assert stored_residents(db) == [("3", "2", "501", "张伟", "+8613800138000", "zh-CN")]


def test_csv_text_may_start_with_a_bom(db: Database) -> None:
    report = import_text(db, "\ufeff" + HEADER + "3,2,501,张伟,+8613800138000,zh-CN\n")
    assert report.residents_created == 1


def test_a_file_saved_as_gbk_is_refused_plainly(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "residents.csv"
    path.write_bytes((HEADER + "3,2,501,张伟,+8613800138000,zh-CN\n").encode("gbk"))
    with pytest.raises(RegistryImportError) as failure, db.session() as session:
        import_residents(session, path)
    assert failure.value.problems == (
        "row 2: residents.csv is not UTF-8 text; in Excel save it as 'CSV UTF-8'",
    )


# --- the demo estate ----------------------------------------------------------------------


def test_the_demo_estate_has_what_the_demos_rely_on(db: Database) -> None:
    with db.session() as session:
        report = load_demo_estate(session)
    assert report == ImportReport(rows=8, units_created=7, residents_created=8)
    residents = stored_residents(db)
    caller_units = [r[:3] for r in residents if r[4] == "+8613800138000"]
    assert caller_units == [("1", "1", "101"), ("3", "2", "501")]  # `ivr call`'s caller ID
    assert [r[3] for r in residents if r[5] == "en-US"] == ["David Smith"]
    assert all(r[4].startswith("+86") for r in residents)


def test_the_demo_estate_only_seeds_an_empty_registry(db: Database) -> None:
    with db.session() as session:
        first = load_demo_estate_if_empty(session)
    with db.session() as session:
        second = load_demo_estate_if_empty(session)
    assert (first and first.residents_created, second) == (8, None)


def test_demo_text_is_a_valid_import_file() -> None:
    assert DEMO_ESTATE_CSV.startswith(HEADER)


def test_ivr_run_says_when_it_loaded_the_demo_estate(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("IVR_DATA_DIR", str(tmp_path))
    settings = load_settings()
    demo = ImportReport(rows=8, units_created=7, residents_created=8)
    plan = RunPlan(5000, 2, 2, tmp_path, embedded_redis=True)
    _introduce(settings, plan, demo)
    shown = capsys.readouterr().out.splitlines()
    assert (
        "  residents registry was empty: demo estate loaded (8 residents, 7 units);"
        " add yours: ivr residents import FILE.csv"
    ) in shown
    _introduce(settings, plan, None)
    assert "residents" not in capsys.readouterr().out


# --- the commands -------------------------------------------------------------------------


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("IVR_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("DATABASE_URL", database_url)
    for name in ("REDIS_URL", "TWILIO_AUTH_TOKEN", "IVR_API_TOKEN", "IVR_ENV"):
        monkeypatch.delenv(name, raising=False)
    return database_url


def test_ivr_residents_import_prints_a_summary(cli_env: str, db: Database, tmp_path: Path) -> None:
    path = tmp_path / "estate.csv"
    path.write_text(HEADER + "1,1,101,张伟,+8613800138000,zh-CN\n1,1,102,王芳,+8613800138001,\n")
    result = CliRunner().invoke(main, ["residents", "import", str(path)])
    assert (result.exit_code, result.output) == (
        0,
        "imported estate.csv: 2 rows, 2 units created, 2 residents created, 0 updated,"
        " 0 unchanged\n",
    )
    assert len(stored_residents(db)) == 2


def test_ivr_residents_import_lists_problems_and_fails(
    cli_env: str, db: Database, tmp_path: Path
) -> None:
    path = tmp_path / "estate.csv"
    path.write_text(HEADER + "1,1,101,张伟,+8613800138000,zh-CN\n,1,102,王芳,138,\n")
    result = CliRunner().invoke(main, ["residents", "import", str(path)])
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr.splitlines() == [
        "row 3: building is required",
        "row 3: phone '138' is not E.164 (+ and country code, e.g. +8613800138000)",
        "nothing was imported from estate.csv",
    ]
    assert stored_residents(db) == []


def test_ivr_residents_import_needs_an_existing_file(cli_env: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["residents", "import", str(tmp_path / "missing.csv")])
    assert result.exit_code == 2
    assert "does not exist" in result.stderr


def test_ivr_residents_demo_loads_the_demo_estate_once(cli_env: str, db: Database) -> None:
    first = CliRunner().invoke(main, ["residents", "demo"])
    again = CliRunner().invoke(main, ["residents", "demo"])
    assert (first.exit_code, first.output) == (
        0,
        "demo estate loaded: 8 rows, 7 units created, 8 residents created, 0 updated,"
        " 0 unchanged\n",
    )
    assert (again.exit_code, again.output) == (
        0,
        "demo estate loaded: 8 rows, 0 units created, 0 residents created, 0 updated,"
        " 8 unchanged\n",
    )
    assert len(stored_residents(db)) == 8
