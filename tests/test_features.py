import pyarrow as pa
import pytest

from labdatasets import features as F
from labdatasets.errors import ProcessingError

FEATURES = F.Features(
    {
        "id": F.Value("int64", nullable=False),
        "score": F.Value("float32"),
        "label": F.ClassLabel(names=["cat", "dog"]),
        "text": F.Text(),
        "when": F.Value("timestamp[us, UTC]"),
        "price": F.Value("decimal128(10, 2)"),
        "tags": F.Sequence(F.Text()),
        "pixels": F.Tensor(shape=(2, 2), dtype="uint8"),
        "photo": F.Image(),
    }
)


def test_arrow_schema_types_and_metadata():
    schema = FEATURES.arrow_schema()
    assert schema.field("id").type == pa.int64() and not schema.field("id").nullable
    assert schema.field("label").type == pa.int64()
    assert schema.field("when").type == pa.timestamp("us", tz="UTC")
    assert schema.field("price").type == pa.decimal128(10, 2)
    assert schema.field("tags").type == pa.list_(pa.string())
    assert schema.field("pixels").type == pa.list_(pa.uint8(), 4)
    assert schema.field("photo").type == pa.binary()
    assert b'"names": ["cat", "dog"]' in schema.field("label").metadata[b"labdatasets.feature"]


def test_json_round_trip():
    assert F.Features.from_json(FEATURES.to_json()) == FEATURES


def test_unknown_dtype_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="int64"):
        F.Value("int65")


def small():
    return F.Features({"id": F.Value("int64", nullable=False), "label": F.ClassLabel(names=["cat", "dog"])})


def test_conform_casts_and_maps_label_names():
    table = pa.table({"label": ["dog", "cat"], "id": pa.array([1, 2], pa.int32())})
    out = small().conform(table)
    assert out.column_names == ["id", "label"]
    assert out.column("label").to_pylist() == [1, 0]
    assert out.schema.field("id").type == pa.int64()


def test_conform_names_missing_and_extra_columns():
    with pytest.raises(ProcessingError, match=r"missing declared column\(s\) \['label'\].*undeclared column\(s\) \['extra'\]"):
        small().conform(pa.table({"id": [1], "extra": [2]}), where="toy:1.0.0 split 'train'")


def test_conform_names_column_and_row_of_a_bad_value():
    table = pa.table({"id": ["1", "2", "three", "4"], "label": ["cat"] * 4})
    with pytest.raises(ProcessingError) as info:
        small().conform(table, where="toy:1.0.0 split 'train'")
    message = str(info.value)
    assert message.startswith("toy:1.0.0 split 'train': column 'id', row 2 of a batch of 4")
    assert "'three'" in message


def test_conform_names_the_bad_row_by_its_key():
    table = pa.table({"id": [10, 11, 12], "label": ["cat", "dog", "bird"]})
    with pytest.raises(ProcessingError, match=r"^column 'label', row with id=12: 'bird' is not one of"):
        small().conform(table, key="id")
    with pytest.raises(ProcessingError, match=r"column 'label', row with id=11, label='dog'"):
        F.Features({"id": F.Value("int64"), "label": F.Value("int8")}).conform(
            pa.table({"id": [10, 11], "label": ["1", "dog"]}), key=("id", "label")
        )


def test_conform_rejects_unknown_label_and_out_of_range_ids():
    with pytest.raises(ProcessingError, match=r"column 'label', row 1 of a batch of 2: 'bird' is not one of"):
        small().conform(pa.table({"id": [1, 2], "label": ["cat", "bird"]}))
    with pytest.raises(ProcessingError, match=r"column 'label', row 0 of a batch of 1: class id 7 is outside \[0, 2\)"):
        small().conform(pa.table({"id": [1], "label": [7]}))


def test_conform_rejects_null_in_non_nullable():
    with pytest.raises(ProcessingError, match=r"column 'id', row 1 of a batch of 2: null in a non-nullable feature"):
        small().conform(pa.table({"id": [1, None], "label": [0, 1]}))
