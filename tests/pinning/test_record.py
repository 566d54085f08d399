import dataclasses
import datetime as dt
import hashlib
import json
import locale
import os
import re
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from labdatasets.errors import LocalWriteError, PinExistsError, SnapshotError
from labdatasets.pinning import record as record_module
from labdatasets.pinning.record import ObjectEntry, PinRecord, SourcePin, utc_now
from labdatasets.stores.hashing import sha256_json

ROOT = Path(__file__).resolve().parents[2]
A, B, C, D, F = ("a" * 64, "b" * 64, "c" * 64, "d" * 64, "f" * 64)
WHEN = "2026-01-01T00:00:00Z"


def record(**kw):
    pin = SourcePin(
        kind="local",
        location={"path": "data/rows.csv"},
        format="csv",
        objects=(ObjectEntry("rows.csv", "a" * 64, 10),),
        num_rows=3,
        schema=({"name": "id", "type": "int64"},),
        pinned_at="2026-01-01T00:00:00Z",
    )
    return PinRecord(dataset="toy", version="1.0.0", sources={"rows": pin}, pinned_at="2026-01-01T00:00:00Z", **kw)


ARROW = pa.schema([("id", pa.int64()), ("when", pa.timestamp("us", tz="UTC"))])


def full_record(**kw):
    """A record that uses every optional field: a config, code files, a snapshot store, metadata, read options."""
    table = SourcePin.of_table(
        kind="s3",
        location={"bucket": "lab", "prefix": "données/"},
        format="parquet",
        objects=[ObjectEntry("z/part-1.parquet", B, 7, {"etag": "e1"}), ObjectEntry("a/part-0.parquet", A, 5)],
        schema=ARROW,
        num_rows=12,
        read_options={"delimiter": ";"},
        metadata={"region": "eu-west-1"},
    )
    rows = dataclasses.replace(record().sources["rows"], objects=(ObjectEntry("rows.csv", C, 10),))
    return PinRecord(
        dataset="toy",
        config="small",
        version="1.0.0",
        sources={"table": dataclasses.replace(table, pinned_at=WHEN), "rows": rows},
        pinned_at=WHEN,
        code_fingerprint=F,
        labdatasets_version="9.9.9",
        code_files=(ObjectEntry("toy.py", D, 3), ObjectEntry("helpers/util.py", A, 4)),
        snapshot_store="s3://lab/snapshots",
        **kw,
    )


def expected_json():
    """The full record as a user reads it in git: every key by name (the hashes recomputed here, by hand)."""
    arrow_b64 = __import__("base64").b64encode(ARROW.serialize().to_pybytes()).decode("ascii")
    table_manifest = {
        "format": "parquet",
        "objects": [{"path": "a/part-0.parquet", "oid": A, "size": 5}, {"path": "z/part-1.parquet", "oid": B, "size": 7}],
        "arrow_schema": arrow_b64,
        "read_options": {"delimiter": ";"},
    }
    rows_manifest = {"format": "csv", "objects": [{"path": "rows.csv", "oid": C, "size": 10}], "arrow_schema": None, "read_options": {}}
    manifests = {"rows": sha256_json(rows_manifest), "table": sha256_json(table_manifest)}
    return {
        "pin_format": 1,
        "dataset": "toy",
        "config": "small",
        "version": "1.0.0",
        "snapshot_id": sha256_json(manifests),
        "pinned_at": WHEN,
        "labdatasets_version": "9.9.9",
        "code_fingerprint": F,
        "code_files": [{"path": "toy.py", "oid": D, "size": 3}, {"path": "helpers/util.py", "oid": A, "size": 4}],
        "snapshot_store": "s3://lab/snapshots",
        "sources": {
            "rows": {
                "kind": "local",
                "location": {"path": "data/rows.csv"},
                "format": "csv",
                "manifest": manifests["rows"],
                "pinned_at": WHEN,
                "num_rows": 3,
                "num_bytes": 10,
                "objects": [{"path": "rows.csv", "oid": C, "size": 10}],
                "schema": [{"name": "id", "type": "int64"}],
            },
            "table": {
                "kind": "s3",
                "location": {"bucket": "lab", "prefix": "données/"},
                "format": "parquet",
                "manifest": manifests["table"],
                "pinned_at": WHEN,
                "num_rows": 12,
                "num_bytes": 12,
                "objects": [
                    {"path": "z/part-1.parquet", "oid": B, "size": 7, "metadata": {"etag": "e1"}},
                    {"path": "a/part-0.parquet", "oid": A, "size": 5},
                ],
                "schema": [{"name": "id", "type": "int64"}, {"name": "when", "type": "timestamp[us, tz=UTC]"}],
                "arrow_schema": arrow_b64,
                "read_options": {"delimiter": ";"},
                "metadata": {"region": "eu-west-1"},
            },
        },
    }


def test_round_trip_and_snapshot_id(tmp_path):
    rec = record()
    path = rec.write_new(tmp_path / "toy" / "1.0.0.json")
    back = PinRecord.read(path)
    assert back.to_json() == rec.to_json()
    assert back.snapshot_id == rec.snapshot_id
    # the snapshot id depends on content only, not on when or which version
    later = PinRecord(dataset="toy", version="2.0.0", sources=rec.sources, pinned_at="2027-01-01T00:00:00Z")
    assert later.snapshot_id == rec.snapshot_id


def test_a_record_with_every_field_is_written_as_documented_and_reads_back_exactly(tmp_path):
    rec = full_record()
    assert rec.to_json() == expected_json()
    assert list(rec.to_json()) == list(expected_json())  # the order a reviewer reads in a diff
    path = rec.write_new(tmp_path / "snapshots" / "toy" / "small" / "1.0.0.json")  # folders created as needed
    text = path.read_text(encoding="utf-8")
    assert text == json.dumps(expected_json(), indent=2, ensure_ascii=False) + "\n"
    assert '"prefix": "données/"' in text  # written as UTF-8 text, not \u escapes
    back = PinRecord.read(path)
    assert back == rec and back.path == path and back.dumps() == text
    table = back.sources["table"]
    assert table.objects[0].metadata == {"etag": "e1"} and table.objects[1].metadata == {}
    assert (table.read_options, table.metadata, table.location) == ({"delimiter": ";"}, {"region": "eu-west-1"}, rec.sources["table"].location)
    assert table.arrow() == ARROW and back.sources["rows"].arrow() is None
    assert (back.config, back.snapshot_store, back.code_files) == ("small", "s3://lab/snapshots", rec.code_files)
    assert back.full_name == "toy/small:1.0.0"


def test_optional_fields_left_out_read_back_as_their_defaults():
    pin = SourcePin(kind="local", location={}, format="csv", objects=(), pinned_at="")
    data = {"pin_format": 1, "dataset": "toy", "version": "1.0.0", "sources": {"rows": {"kind": "local", "format": "csv", "manifest": pin.manifest_oid}}}
    data["snapshot_id"] = sha256_json({"rows": pin.manifest_oid})
    back = PinRecord.from_json(data)
    assert (back.config, back.pinned_at, back.code_fingerprint, back.labdatasets_version, back.code_files, back.snapshot_store, back.path) == (
        None, "", None, "", (), None, None
    )
    rows = back.sources["rows"]
    assert rows == pin
    assert (rows.location, rows.objects, rows.num_rows, rows.schema, rows.arrow_schema, rows.read_options, rows.metadata, rows.pinned_at) == (
        {}, (), None, (), None, {}, {}, ""
    )
    empty = PinRecord.from_json({"pin_format": 1, "dataset": "toy", "version": "1.0.0", "snapshot_id": sha256_json({})})
    assert empty.sources == {}
    out = record().to_json()
    assert "code_files" not in out and "snapshot_store" not in out
    assert {"arrow_schema", "read_options", "metadata"}.isdisjoint(out["sources"]["rows"])
    assert out["sources"]["rows"]["objects"] == [{"path": "rows.csv", "oid": A, "size": 10}]


def test_the_manifest_names_content_only_and_the_snapshot_id_hashes_the_stored_manifest_bytes():
    rec = full_record()
    table = rec.sources["table"]
    assert table.manifest() == {
        "format": "parquet",
        "objects": [{"path": "a/part-0.parquet", "oid": A, "size": 5}, {"path": "z/part-1.parquet", "oid": B, "size": 7}],
        "arrow_schema": table.arrow_schema,
        "read_options": {"delimiter": ";"},
    }
    elsewhere = dataclasses.replace(table, kind="gcs", location={"bucket": "x"}, pinned_at="2030-01-01T00:00:00Z", metadata={})
    assert elsewhere.manifest_oid == table.manifest_oid
    assert dataclasses.replace(table, read_options={}).manifest_oid != table.manifest_oid
    assert table.num_bytes == 12
    assert rec.manifest_bytes() == json.dumps(
        {"rows": rec.sources["rows"].manifest_oid, "table": table.manifest_oid}, sort_keys=True, separators=(",", ":")
    ).encode()
    assert hashlib.sha256(rec.manifest_bytes()).hexdigest() == rec.snapshot_id


def test_of_table_records_the_schema_readable_and_exact():
    pin = SourcePin.of_table(kind="local", location={"path": "x.csv"}, format="csv", objects=[], schema=ARROW, num_rows=None)
    assert pin.schema == ({"name": "id", "type": "int64"}, {"name": "when", "type": "timestamp[us, tz=UTC]"})
    assert pin.arrow() == ARROW and pin.arrow().field("when").type.tz == "UTC"
    assert (pin.kind, pin.location, pin.format, pin.objects, pin.num_rows, pin.read_options, pin.metadata) == (
        "local", {"path": "x.csv"}, "csv", (), None, {}, {}
    )
    assert re.fullmatch(r"[A-Za-z0-9+/=]+", pin.arrow_schema)


def test_utc_now_is_whole_seconds_in_utc():
    before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    now = utc_now()
    after = dt.datetime.now(dt.timezone.utc)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", now), now
    assert before <= dt.datetime.fromisoformat(now.replace("Z", "+00:00")) <= after


# --- malformed and tampered records: refused, naming the file, saying what to do -------------------------------

def _edit(data, keys, value):
    *parents, last = keys
    for key in parents:
        data = data[key]
    if value is _DELETE:
        del data[last]
    else:
        data[last] = value


_DELETE = object()
TABLE_OBJ = ("sources", "table", "objects", 0)

# (label, [(keys, new value)], words the message must contain)
MALFORMED = [
    ("format from the future", [(("pin_format",), 2)], ["has pin_format 2; this labdatasets reads format 1. Upgrade labdatasets, or restore the record from git if it was damaged."]),
    ("format missing", [(("pin_format",), _DELETE)], ["has pin_format None", "reads format 1"]),
    ("dataset missing", [(("dataset",), _DELETE)], ["cannot be read: field 'dataset' is missing", "damaged or was edited by hand; restore it from git"]),
    ("version missing", [(("version",), _DELETE)], ["field 'version' is missing"]),
    ("source kind missing", [(("sources", "rows", "kind"), _DELETE)], ["field 'kind' is missing"]),
    ("size not a number", [((*TABLE_OBJ, "size"), "lots")], ["a field is malformed (invalid literal", "restore it from git"]),
    ("sources not an object", [(("sources",), [])], ["a field is malformed (", "has no attribute 'items'"]),
    ("oid not a sha256", [((*TABLE_OBJ, "oid"), "../../etc/passwd")],
     ["source 'table' names the object id '../../etc/passwd', which is not a sha256", "restore it from git"]),
    ("object path climbs out", [((*TABLE_OBJ, "path"), "../../etc/passwd")], ["source 'table' names the object path '../../etc/passwd'"]),
    ("code file climbs out", [(("code_files", 0, "path"), "../evil.py")], ["names the code file '../evil.py'", "relative .py path"]),
    ("code file not python", [(("code_files", 0, "path"), "notes.txt")], ["names the code file 'notes.txt'"]),
    ("code file oid", [(("code_files", 0, "oid"), "x")], ["names the object id 'x'"]),
    ("code fingerprint", [(("code_fingerprint",), "../x")], ["names the object id '../x'"]),
    ("object edited", [((*TABLE_OBJ, "oid"), C)], ["source 'table' (s3, {'bucket': 'lab', 'prefix': 'données/'}) was edited by hand",
                                                  "does not match its objects", "Restore it from git", "a new VERSION is pinned instead"]),
    ("object edited, manifest removed", [((*TABLE_OBJ, "size"), 6), (("sources", "table", "manifest"), _DELETE)],
     ["source 'table' (s3,", "its manifest None does not match"]),
    ("read options edited", [(("sources", "table", "read_options"), {"delimiter": ","})], ["source 'table'", "was edited by hand"]),
    ("source renamed", [(("sources", "rows"), _DELETE), (("sources", "renamed"), "ROWS")],
     ["was edited by hand: its snapshot_id does not match its sources. Restore it from git"]),
    ("snapshot_id edited", [(("snapshot_id",), A)],
     ["its snapshot_id does not match its sources. Restore it from git; a pin record is never edited, a new VERSION is pinned instead."]),
    ("snapshot_id removed, source renamed", [(("snapshot_id",), _DELETE), (("sources", "rows"), _DELETE), (("sources", "renamed"), "ROWS")],
     ["its snapshot_id does not match its sources"]),
]


@pytest.mark.parametrize("edits, words", [pytest.param(e, w, id=label) for label, e, w in MALFORMED])
def test_a_malformed_or_tampered_record_is_refused_naming_the_file_once(tmp_path, edits, words):
    good = full_record().to_json()
    data = json.loads(json.dumps(good))
    for keys, value in edits:
        if value == "ROWS":
            value = good["sources"]["rows"]
        _edit(data, keys, value)
    path = tmp_path / "1.0.0.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(SnapshotError) as info:
        PinRecord.read(path)
    message = str(info.value)
    assert message.startswith(f"Pin record {path} ") and message.count(str(path)) == 1, message
    for word in words:
        assert word in message, (word, message)
    assert re.search(r"(?i)restore (it|the record) from git", message)


@pytest.mark.parametrize("content", [b"{", b'{"pin_format": 1, "dataset": "\xff"}', None], ids=["not JSON", "not UTF-8", "not there"])
def test_a_record_that_cannot_be_read_says_so_and_names_the_file(tmp_path, content):
    path = tmp_path / "1.0.0.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(SnapshotError, match=r"^Cannot read pin record .*1\.0\.0\.json: .*\. Restore it from git\.$"):
        PinRecord.read(path)


def test_an_edited_source_names_the_manifest_it_states_and_the_one_its_objects_make():
    data = full_record().to_json()
    stated = data["sources"]["table"]["manifest"]
    data["sources"]["table"]["objects"][1]["size"] = 6
    table = full_record().sources["table"]
    actual = dataclasses.replace(table, objects=(table.objects[0], ObjectEntry("a/part-0.parquet", A, 6))).manifest_oid
    with pytest.raises(SnapshotError) as info:
        PinRecord.from_json(data)
    assert str(info.value).endswith(
        f"was edited by hand: its manifest {stated[:12]} does not match its objects ({actual[:12]}). Restore it from git; "
        "a pin record is never edited, a new VERSION is pinned instead."
    ), str(info.value)


def test_a_record_read_without_a_path_names_the_dataset_and_version():
    data = full_record().to_json()
    with pytest.raises(SnapshotError, match=r"^Pin record toy/small:1\.0\.0 has pin_format 7;"):
        PinRecord.from_json({**data, "pin_format": 7})
    with pytest.raises(SnapshotError, match=r"^Pin record toy/small:1\.0\.0 names the object id 'x'"):
        PinRecord.from_json({**data, "code_fingerprint": "x"})
    with pytest.raises(SnapshotError, match=r"^Pin record toy/small:1\.0\.0 names the code file 'a.txt'"):
        PinRecord.from_json({**data, "code_files": [{"path": "a.txt", "oid": A, "size": 1}]})
    with pytest.raises(SnapshotError, match=r"^Pin record toy/small:1\.0\.0 source 'rows' names the object path '/etc/passwd'"):
        PinRecord.from_json({**data, "sources": {**data["sources"], "rows": {**data["sources"]["rows"], "objects": [{"path": "/etc/passwd", "oid": A, "size": 1}]}}})
    with pytest.raises(SnapshotError, match=r"^Pin record toy/small:1\.0\.0 was edited by hand: its snapshot_id"):
        PinRecord.from_json({**data, "snapshot_id": A})
    with pytest.raises(SnapshotError, match=r"^Pin record toy:2\.0\.0 has pin_format None"):
        PinRecord.from_json({"dataset": "toy", "version": "2.0.0"})


def test_the_committed_example_records_refuse_a_removed_manifest_or_snapshot_id():
    """Removing the fields that seal a record must not turn the seal off (it did: an edited oid then passed)."""
    data = json.loads((ROOT / "snapshots" / "product_a" / "1.2.0.json").read_text(encoding="utf-8"))
    source = next(iter(data["sources"].values()))
    source["objects"][0]["oid"] = A
    del source["manifest"]
    with pytest.raises(SnapshotError, match="its manifest None does not match its objects"):
        PinRecord.from_json(data)
    recomputed = SourcePin(kind=source["kind"], location=source["location"], format=source["format"],
                           objects=tuple(ObjectEntry.from_json(o, where="x") for o in source["objects"]),
                           arrow_schema=source.get("arrow_schema"), read_options=source.get("read_options", {}))
    source["manifest"] = recomputed.manifest_oid  # a careful forger recomputes the source manifest...
    del data["snapshot_id"]  # ...and drops the record's seal
    with pytest.raises(SnapshotError, match="its snapshot_id does not match its sources"):
        PinRecord.from_json(data)


# --- writing -----------------------------------------------------------------------------------------------------

def test_write_new_never_replaces(tmp_path):
    path = record().write_new(tmp_path / "1.0.0.json")
    before = path.read_text()
    with pytest.raises(PinExistsError) as info:
        record(code_fingerprint="other").write_new(path)
    assert str(info.value) == (
        f"toy:1.0.0 is already pinned ({path}). A pinned version never changes; to change its data, bump VERSION, "
        "add a RELEASE_NOTES entry and pin the new version."
    )
    assert path.read_text() == before
    assert os.listdir(tmp_path) == ["1.0.0.json"]  # no temporary file left behind


def test_hand_edited_records_are_refused(tmp_path):
    path = record().write_new(tmp_path / "1.0.0.json")
    data = json.loads(path.read_text())
    data["sources"]["rows"]["objects"][0]["oid"] = "b" * 64
    path.write_text(json.dumps(data))
    with pytest.raises(SnapshotError, match="edited by hand"):
        PinRecord.read(path)


class _Watched(PinRecord):
    """A record that lists its folder while its text is being written."""

    seen: list[str] = []

    def dumps(self) -> str:
        assert self.path is not None
        _Watched.seen = sorted(os.listdir(self.path))
        return super().dumps()


def test_a_record_being_written_is_a_hidden_temporary_file_beside_it_with_the_umask_applied(tmp_path):
    folder = tmp_path / "toy"
    watched = _Watched(**{f.name: getattr(record(), f.name) for f in dataclasses.fields(PinRecord)} | {"path": folder})
    old = os.umask(0o027)
    try:
        path = watched.write_new(folder / "1.0.0.json")
        assert (path.stat().st_mode & 0o777) == 0o640
        os.umask(0o002)
        other = record().write_new(folder / "2.0.0.json")
        assert (other.stat().st_mode & 0o777) == 0o664  # readable by the group that shares the checkout
    finally:
        os.umask(old)
    assert len(_Watched.seen) == 1 and _Watched.seen[0].startswith(".1.0.0.json."), _Watched.seen
    assert sorted(os.listdir(folder)) == ["1.0.0.json", "2.0.0.json"]


def test_the_umask_is_read_without_changing_it(monkeypatch):
    def no_umask_calls(_mask):
        raise AssertionError("os.umask changes the mask of every thread for a moment; /proc/self/status has it")

    old = os.umask(0o027)
    try:
        with monkeypatch.context() as patched:
            patched.setattr(record_module.os, "umask", no_umask_calls)
            assert record_module._current_umask() == 0o027
        # without /proc (macOS), os.umask is the fallback: the mask comes back unchanged
        with monkeypatch.context() as patched:
            patched.setattr(record_module, "open", lambda *a, **k: (_ for _ in ()).throw(OSError("no /proc")), raising=False)
            assert record_module._current_umask() == 0o027
        assert os.umask(0o027) == 0o027
    finally:
        os.umask(old)


def test_a_record_that_cannot_be_written_says_where_and_what_to_do(tmpfs):
    read_only = tmpfs("ro,size=64k")
    with pytest.raises(LocalWriteError) as info:
        record().write_new(read_only / "toy" / "1.0.0.json")
    assert f"Cannot write {read_only / 'toy'} while writing the pin record of toy:1.0.0 (the snapshot objects are stored; pin again once it can be written)" in str(info.value)

    full = tmpfs("size=4k")
    with open(full / "filler", "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 4096)
        except OSError:
            pass
    with pytest.raises(LocalWriteError) as info:
        record().write_new(full / "1.0.0.json")
    assert f"No space left on the disk holding {full} while writing the pin record of toy:1.0.0 (the snapshot objects are stored; pin again" in str(info.value)
    assert sorted(os.listdir(full)) == ["filler"]  # no half record, no temporary file


def test_records_are_utf8_whatever_the_locale(tmp_path):
    """A C or Windows locale must not change how a record is written or read (names may be any Unicode)."""
    if sys.flags.utf8_mode:
        pytest.skip("Python runs in UTF-8 mode here: the locale's codec is never used")
    rec = full_record()  # a location with 'données/'
    before = locale.setlocale(locale.LC_CTYPE)
    locale.setlocale(locale.LC_CTYPE, "C")  # an ASCII locale: open() without an encoding could not write 'é'
    try:
        assert locale.getpreferredencoding(False).lower() in ("ascii", "ansi_x3.4-1968")
        path = rec.write_new(tmp_path / "1.0.0.json")
        back = PinRecord.read(path)
    finally:
        locale.setlocale(locale.LC_CTYPE, before)
    assert back == rec
    assert "données" in path.read_text(encoding="utf-8")


def test_committed_pin_records_read_back_and_write_out_byte_for_byte():
    """The repository's pin records are the golden files: their snapshot ids, manifests and layout."""
    committed = sorted(p for p in (ROOT / "snapshots").rglob("*.json") if not p.name.endswith(".lock.json"))
    assert len(committed) >= 3
    for path in committed:
        rec = PinRecord.read(path)
        assert rec.dumps() == path.read_text(encoding="utf-8"), path.name
        data = json.loads(path.read_text(encoding="utf-8"))
        assert rec.snapshot_id == data["snapshot_id"], path.name  # recomputed from the sources' manifests
        for name, pin in rec.sources.items():
            assert pin.to_json() == data["sources"][name], (path.name, name)
