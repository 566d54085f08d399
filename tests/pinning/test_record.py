import json

import pytest

from labdatasets.errors import PinExistsError, SnapshotError
from labdatasets.pinning.record import ObjectEntry, PinRecord, SourcePin


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


def test_round_trip_and_snapshot_id(tmp_path):
    rec = record()
    path = rec.write_new(tmp_path / "toy" / "1.0.0.json")
    back = PinRecord.read(path)
    assert back.to_json() == rec.to_json()
    assert back.snapshot_id == rec.snapshot_id
    # the snapshot id depends on content only, not on when or which version
    later = PinRecord(dataset="toy", version="2.0.0", sources=rec.sources, pinned_at="2027-01-01T00:00:00Z")
    assert later.snapshot_id == rec.snapshot_id


def test_write_new_never_replaces(tmp_path):
    path = record().write_new(tmp_path / "1.0.0.json")
    before = path.read_text()
    with pytest.raises(PinExistsError, match="bump VERSION"):
        record(code_fingerprint="other").write_new(path)
    assert path.read_text() == before


def test_hand_edited_records_are_refused(tmp_path):
    path = record().write_new(tmp_path / "1.0.0.json")
    data = json.loads(path.read_text())
    data["sources"]["rows"]["objects"][0]["oid"] = "b" * 64
    path.write_text(json.dumps(data))
    with pytest.raises(SnapshotError, match="edited by hand"):
        PinRecord.read(path)


def test_committed_pin_records_read_back_and_write_out_byte_for_byte():
    """The repository's pin records are the golden files: their snapshot ids, manifests and layout."""
    from pathlib import Path

    committed = sorted(p for p in (Path(__file__).resolve().parents[2] / "snapshots").rglob("*.json") if not p.name.endswith(".lock.json"))
    assert len(committed) >= 3
    for path in committed:
        rec = PinRecord.read(path)
        assert rec.dumps() == path.read_text(encoding="utf-8"), path.name
        data = json.loads(path.read_text(encoding="utf-8"))
        assert rec.snapshot_id == data["snapshot_id"], path.name  # recomputed from the sources' manifests
        for name, pin in rec.sources.items():
            assert pin.to_json() == data["sources"][name], (path.name, name)
