"""Feature declarations: what each column of a dataset holds, mapped to an Arrow schema.

The names follow Hugging Face ``datasets`` and tfds, so a builder reads the way
researchers expect::

    from labdatasets import features as F

    FEATURES = F.Features({
        "id": F.Value("int64", doc="Row id, unique"),
        "bill_length_mm": F.Value("float32"),
        "species": F.ClassLabel(names=["Adelie", "Chinstrap", "Gentoo"]),
        "comment": F.Text(),
        "photo": F.Image(),
        "tags": F.Sequence(F.Text()),
    })
    FEATURES.arrow_schema()        # pyarrow.Schema

``ClassLabel`` columns are stored as int64 codes; ``names`` travel in the schema
metadata and in ``dataset_info.json``. :meth:`Features.conform` checks a batch
against the declaration and fails naming the column and the row.

pyarrow is imported only when a schema is actually needed, so builder modules
can declare features at import time for free.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any
from collections.abc import Iterator, Mapping

from labdatasets.errors import ConfigError, DeclarationError, DeclarationTypeError, ProcessingError

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

__all__ = ["Feature", "Value", "Text", "ClassLabel", "Image", "Sequence", "Tensor", "Features"]

_PRIMITIVES = {
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64", "string", "large_string", "binary", "large_binary",
    "date32", "date64", "null",
}
_PARAM_RE = re.compile(
    r"^(timestamp\[(s|ms|us|ns)(,\s*[\w/+\-:]+)?\]|time64\[(us|ns)\]|time32\[(s|ms)\]|"
    r"duration\[(s|ms|us|ns)\]|decimal128\(\d+,\s*\d+\)|decimal256\(\d+,\s*\d+\))$"
)


def _pa():
    import pyarrow as pa

    return pa


def dtype_to_arrow(dtype: str) -> "pa.DataType":
    """Map a dtype string (``int64``, ``timestamp[us, UTC]``, ``decimal128(12, 2)``) to Arrow."""
    pa = _pa()
    if dtype in _PRIMITIVES:
        return pa.bool_() if dtype == "bool" else getattr(pa, dtype)()
    if dtype.startswith("timestamp["):
        inner = dtype[len("timestamp[") : -1].split(",")
        return pa.timestamp(inner[0].strip(), tz=inner[1].strip() if len(inner) > 1 else None)
    if dtype.startswith(("time64[", "time32[", "duration[")):
        kind, unit = dtype[:-1].split("[")
        return getattr(pa, kind)(unit)
    if dtype.startswith(("decimal128(", "decimal256(")):
        kind, args = dtype[:-1].split("(")
        precision, scale = (int(x) for x in args.split(","))
        return getattr(pa, kind)(precision, scale)
    raise DeclarationError(
        f"Unknown dtype {dtype!r}; use int64, string, timestamp[us, UTC], decimal128(12, 2) or another Value() dtype"
    )


class Feature:
    """Base class of a column declaration. ``doc`` is shown in the docs catalog."""

    kind: str = "feature"

    def __init__(self, *, doc: str = "", nullable: bool = True):
        self.doc = doc
        self.nullable = nullable

    def arrow_type(self) -> "pa.DataType":
        raise NotImplementedError

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        out.update(self._json_fields())
        if self.doc:
            out["doc"] = self.doc
        if not self.nullable:
            out["nullable"] = False
        return out

    def _json_fields(self) -> dict[str, Any]:
        return {}

    def describe(self) -> str:
        """A short human description, e.g. ``ClassLabel(3 classes)``."""
        return self.kind

    def conform_column(self, column: "pa.Array", name: str) -> "pa.Array":
        """Cast ``column`` to this feature's Arrow type or raise ProcessingError."""
        return _cast(column, self.arrow_type(), name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Feature) and self.to_json() == other.to_json()

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self._json_fields().items())
        return f"{type(self).__name__}({fields})"


class Value(Feature):
    """A scalar column of one Arrow dtype: ``Value("int64")``, ``Value("timestamp[us, UTC]")``."""

    kind = "value"

    def __init__(self, dtype: str, *, doc: str = "", nullable: bool = True):
        super().__init__(doc=doc, nullable=nullable)
        if dtype not in _PRIMITIVES and not _PARAM_RE.match(dtype):
            raise DeclarationError(
                f"Unknown dtype {dtype!r} for Value(); use one of {', '.join(sorted(_PRIMITIVES))}, "
                "timestamp[us] / timestamp[us, UTC], time64[us], duration[us] or decimal128(precision, scale)"
            )
        self.dtype = dtype

    def arrow_type(self) -> "pa.DataType":
        return dtype_to_arrow(self.dtype)

    def _json_fields(self) -> dict[str, Any]:
        return {"dtype": self.dtype}

    def describe(self) -> str:
        return self.dtype


class Text(Value):
    """A UTF-8 string column (tfds ``Text``; the same as ``Value("string")``)."""

    kind = "text"

    def __init__(self, *, doc: str = "", nullable: bool = True):
        super().__init__("string", doc=doc, nullable=nullable)

    def _json_fields(self) -> dict[str, Any]:
        return {}

    def describe(self) -> str:
        return "text"


class ClassLabel(Feature):
    """An integer class id with names. Strings equal to a name are converted to its id.

    ``ClassLabel(names=["cat", "dog"])`` or ``ClassLabel(num_classes=10)``.
    """

    kind = "class_label"

    def __init__(
        self, *, names: "list[str] | None" = None, num_classes: int | None = None, doc: str = "", nullable: bool = False
    ):
        super().__init__(doc=doc, nullable=nullable)
        if names is None and num_classes is None:
            raise DeclarationError("ClassLabel needs names=[...] or num_classes=N in the feature's declaration")
        if names is not None:
            names = [str(n) for n in names]
            if len(set(names)) != len(names):
                raise DeclarationError(f"ClassLabel names must be unique, got {names}; remove the repeated names")
            if num_classes is not None and num_classes != len(names):
                raise DeclarationError(
                    f"ClassLabel got {len(names)} names but num_classes={num_classes}; give one of them, or make them agree"
                )
        self.names = names or [str(i) for i in range(num_classes or 0)]

    @property
    def num_classes(self) -> int:
        return len(self.names)

    def str2int(self, name: Any) -> Any:
        """A class name -> its id; a list (or array) of names -> a list of ids (Hugging Face's ``str2int``)."""
        if not isinstance(name, str):
            return [self.str2int(n) for n in name]
        try:
            return self.names.index(name)
        except ValueError:
            raise ConfigError(f"{name!r} is not a class of this ClassLabel; its names are {self.names}") from None

    def int2str(self, index: Any) -> Any:
        """A class id -> its name; a list (or array) of ids -> a list of names (Hugging Face's ``int2str``)."""
        if not isinstance(index, (int,)) and hasattr(index, "__iter__"):
            return [self.int2str(i) for i in index]
        value = int(index)
        if not 0 <= value < self.num_classes:
            raise ConfigError(f"class id {value} is outside [0, {self.num_classes}) of this ClassLabel")
        return self.names[value]

    def arrow_type(self) -> "pa.DataType":
        return _pa().int64()

    def _json_fields(self) -> dict[str, Any]:
        return {"names": self.names}

    def describe(self) -> str:
        return f"class label ({self.num_classes} classes)"

    def conform_column(self, column: "pa.Array", name: str) -> "pa.Array":
        pa = _pa()
        import pyarrow.compute as pc

        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            codes = pc.index_in(column, value_set=pa.array(self.names))
            unknown = pc.and_(pc.is_null(codes), pc.is_valid(column))
            if pc.any(unknown).as_py():
                row = pc.index(unknown, True).as_py()
                raise BadValueError(name, row, f"{column[row].as_py()!r} is not one of the ClassLabel names {self.names}")
            column = codes
        column = _cast(column, pa.int64(), name)
        out_of_range = pc.or_(pc.less(column, 0), pc.greater_equal(column, self.num_classes))
        if pc.any(out_of_range).as_py():
            row = pc.index(out_of_range, True).as_py()
            raise BadValueError(
                name, row, f"class id {column[row].as_py()} is outside [0, {self.num_classes}) of its ClassLabel"
            )
        return column


class Image(Feature):
    """Encoded image bytes (PNG, JPEG, ...), stored as an Arrow binary column."""

    kind = "image"

    def __init__(self, *, encoding: str = "png", shape: "tuple[int | None, ...] | None" = None, doc: str = "", nullable: bool = True):
        super().__init__(doc=doc, nullable=nullable)
        self.encoding = encoding
        self.shape = tuple(shape) if shape else None

    def arrow_type(self) -> "pa.DataType":
        return _pa().binary()

    def _json_fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {"encoding": self.encoding}
        if self.shape:
            out["shape"] = list(self.shape)
        return out

    def describe(self) -> str:
        return f"image ({self.encoding}" + (f", {'x'.join(str(s) for s in self.shape)})" if self.shape else ")")


class Sequence(Feature):
    """A variable-length list of one feature: ``Sequence(Value("float32"))``."""

    kind = "sequence"

    def __init__(self, feature: Feature, *, length: int | None = None, doc: str = "", nullable: bool = True):
        super().__init__(doc=doc, nullable=nullable)
        self.feature = feature
        self.length = length

    def arrow_type(self) -> "pa.DataType":
        pa = _pa()
        inner = self.feature.arrow_type()
        return pa.list_(inner, self.length) if self.length else pa.list_(inner)

    def _json_fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {"feature": self.feature.to_json()}
        if self.length:
            out["length"] = self.length
        return out

    def describe(self) -> str:
        return f"sequence of {self.feature.describe()}" + (f" (length {self.length})" if self.length else "")


class Tensor(Feature):
    """A fixed-shape numeric tensor, stored row-major as a fixed-size list."""

    kind = "tensor"

    def __init__(self, *, shape: tuple[int, ...], dtype: str, doc: str = "", nullable: bool = True):
        super().__init__(doc=doc, nullable=nullable)
        if not shape or any(int(s) <= 0 for s in shape):
            raise DeclarationError(f"Tensor shape must be positive integers, got {shape}; declare e.g. shape=(3, 224, 224)")
        self.shape = tuple(int(s) for s in shape)
        self.dtype = dtype

    def arrow_type(self) -> "pa.DataType":
        size = 1
        for s in self.shape:
            size *= s
        return _pa().list_(dtype_to_arrow(self.dtype), size)

    def _json_fields(self) -> dict[str, Any]:
        return {"shape": list(self.shape), "dtype": self.dtype}

    def describe(self) -> str:
        return f"tensor {self.dtype}[{', '.join(str(s) for s in self.shape)}]"


_KINDS: dict[str, type[Feature]] = {
    "value": Value, "text": Text, "class_label": ClassLabel, "image": Image, "sequence": Sequence, "tensor": Tensor,
}


def feature_from_json(data: Mapping[str, Any]) -> Feature:
    data = dict(data)
    kind = data.pop("kind")
    if kind == "sequence":
        data["feature"] = feature_from_json(data["feature"])
    if kind == "tensor":
        data["shape"] = tuple(data["shape"])
    if kind == "image" and "shape" in data:
        data["shape"] = tuple(data["shape"])
    return _KINDS[kind](**data)


class BadValueError(ProcessingError):
    """A value that does not fit its feature: names the column and the row (index in its batch)."""

    def __init__(self, column: str, row: int, detail: str):
        super().__init__(f"column {column!r} row {row}: {detail}")
        self.column = column
        self.row = row
        self.detail = detail


def _describe_row(table: "pa.Table", row: int, key: "tuple[str, ...]") -> str:
    """``row with id=17`` when the key columns are present; the batch index otherwise."""
    present = [k for k in key if k in table.column_names]
    if present and len(present) == len(key):
        values = ", ".join(f"{k}={table.column(k)[row].as_py()!r}" for k in key)
        return f"row with {values}"
    return f"row {row} of a batch of {table.num_rows}"


def _first_bad_row(column: "pa.Array", target: "pa.DataType") -> int:
    """Binary-search the first row that does not cast safely (log n casts, not n)."""
    lo, hi = 0, len(column)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            column.slice(lo, mid - lo).cast(target, safe=True)
            lo = mid
        except Exception:  # noqa: BLE001 - pyarrow raises several types for bad casts
            hi = mid
    return lo


def _cast(column: "pa.Array", target: "pa.DataType", name: str) -> "pa.Array":
    if column.type == target:
        return column
    try:
        return column.cast(target, safe=True)
    except Exception as exc:  # noqa: BLE001
        if hasattr(column, "combine_chunks"):
            column = column.combine_chunks()
        row = _first_bad_row(column, target)
        value = column[row].as_py() if len(column) else None
        raise BadValueError(
            name, row, f"value {value!r} of type {column.type} does not fit the declared type {target} ({exc})"
        ) from exc


class Features(Mapping[str, Feature]):
    """An ordered mapping of column name to :class:`Feature`; the schema of every split."""

    def __init__(self, features: Mapping[str, Feature]):
        for name, feature in features.items():
            if not isinstance(feature, Feature):
                raise DeclarationTypeError(
                    f"feature {name!r} must be a labdatasets.features.Feature (Value, Text, ClassLabel, Image, Tensor...), "
                    f"got {feature!r}"
                )
        self._features = dict(features)

    def __getitem__(self, key: str) -> Feature:
        return self._features[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._features)

    def __len__(self) -> int:
        return len(self._features)

    def __repr__(self) -> str:
        return "Features({" + ", ".join(f"{k!r}: {v!r}" for k, v in self._features.items()) + "})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Features) and self.to_json() == other.to_json()

    def arrow_schema(self) -> "pa.Schema":
        """The Arrow schema of every split; ClassLabel names are kept in field metadata."""
        pa = _pa()
        fields = []
        for name, feature in self._features.items():
            meta = {"labdatasets.feature": json.dumps(feature.to_json(), sort_keys=True)}
            fields.append(pa.field(name, feature.arrow_type(), nullable=feature.nullable, metadata=meta))
        return pa.schema(fields)

    def to_json(self) -> dict[str, Any]:
        return {name: f.to_json() for name, f in self._features.items()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Features":
        return cls({name: feature_from_json(spec) for name, spec in data.items()})

    def conform(
        self,
        table: "pa.Table | pa.RecordBatch",
        *,
        where: str = "",
        key: "str | tuple[str, ...] | list[str]" = (),
        check_nulls: bool = True,
    ) -> "pa.Table":
        """Return ``table`` with exactly the declared columns, order and types.

        Raises :class:`ProcessingError` naming the column and the row when the
        data does not fit. The row is named by its ``key`` value(s) when given
        (``row with sample_id='PAL0708-N1A1'``), since its index within a batch
        means little. ``where`` prefixes the message, e.g.
        ``"product_a:1.2.0 split 'train'"``. ``check_nulls=False`` leaves nulls in
        non-nullable columns to the caller (the build counts them as breaks of the
        ``NotNull`` expectation, see :mod:`labdatasets.expectations`).

        Example::

            >>> Features({"id": Value("int64")}).conform(pa.table({"id": [1, 2]})).schema.field("id").type
            DataType(int64)
        """
        pa = _pa()
        import pyarrow.compute as pc

        if isinstance(table, pa.RecordBatch):
            table = pa.Table.from_batches([table])
        key = (key,) if isinstance(key, str) else tuple(key)
        prefix = f"{where}: " if where else ""
        present = list(table.column_names)
        missing = [n for n in self._features if n not in present]
        extra = [n for n in present if n not in self._features]
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"missing declared column(s) {missing}")
            if extra:
                parts.append(f"undeclared column(s) {extra}")
            raise ProcessingError(
                f"{prefix}output does not match the declared features: {'; '.join(parts)}. "
                f"Declared: {list(self._features)}; fix the processing or the FEATURES declaration."
            )
        columns = []
        for name, feature in self._features.items():
            column = table.column(name)
            try:
                column = feature.conform_column(column.combine_chunks() if column.num_chunks != 1 else column.chunk(0), name)
                if check_nulls and not feature.nullable and column.null_count:
                    raise BadValueError(name, pc.index(pc.is_null(column), True).as_py(), f"null in a non-nullable feature ({column.null_count:,} in this batch of {len(column):,} rows)")
            except BadValueError as exc:
                raise ProcessingError(
                    f"{prefix}column {exc.column!r}, {_describe_row(table, exc.row, key)}: {exc.detail}"
                ) from exc
            except ProcessingError as exc:
                raise ProcessingError(f"{prefix}{exc}") from exc
            columns.append(column)
        return pa.Table.from_arrays(columns, schema=self.arrow_schema())
