"""Expectations: rules the data of every split must meet, declared beside the features.

Declare them in ``_info()``; every build checks them, and a broken rule fails
the build with an error naming the dataset, version, split, column and rule,
how many rows break it and a few of their keys::

    import labdatasets as lds
    from labdatasets import expectations as E, features as F

    def _info(self):
        return lds.DatasetInfo(
            features=F.Features({
                "order_id": F.Value("int64", nullable=False),      # never null: checked in every build
                "customer_id": F.Value("int64", nullable=False),
                "amount": F.Value("float64"),
                "currency": F.Text(),
                "sku": F.Text(),
                "comment": F.Text(),
            }),
            key="order_id",               # unique in every split, and in one split only
            group_key="customer_id",      # all rows of a customer land in the same split
            expectations=[
                E.Range("amount", min=0, max=100_000),
                E.AllowedValues("currency", ["EUR", "USD", "GBP"]),
                E.Pattern("sku", r"[A-Z]{3}-[0-9]{4}"),
                E.MaxNullShare("comment", 0.5, severity="warning"),
            ],
        )

The rules:

========================  =====================================================================
``NotNull(col)``          no null in ``col``; implied by ``nullable=False`` (always an error)
``Range(col, min, max)``  every non-null value within ``[min, max]`` (either bound optional; NaN
                          breaks it)
``AllowedValues(col, v)`` every non-null value is one of ``v`` (for a ``ClassLabel``: names)
``Pattern(col, regex)``   every non-null text matches ``regex`` in full (RE2 syntax)
``MaxNullShare(col, s)``  at most a share ``s`` (0..1) of the split's rows are null in ``col``
``UniqueKey()``           no key twice in a split; implied when ``key`` is declared
``DisjointSplits()``      no key in two splits; implied when ``key`` is declared.
                          ``DisjointSplits(ignore=["train_full"])`` allows deliberate overlap
``GroupInOneSplit(col)``  all rows with one value of ``col`` in one split; ``group_key="col"``
                          declares it
========================  =====================================================================

Every rule takes ``severity="warning"``: then a break is recorded and listed by
``build``, ``check``, ``info`` and ``validate`` instead of failing the build.
Declaring ``UniqueKey`` or ``DisjointSplits`` yourself replaces the implied one
(e.g. to make it a warning).

This module imports nothing heavy; the checks themselves live in
:mod:`labdatasets.processing.validation`.
"""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING, Any, ClassVar
from collections.abc import Iterable, Mapping, Sequence

from labdatasets.errors import ConfigError, ExpectationError

if TYPE_CHECKING:  # pragma: no cover
    from labdatasets.features import Features

__all__ = [
    "Expectation",
    "NotNull",
    "Range",
    "AllowedValues",
    "Pattern",
    "MaxNullShare",
    "UniqueKey",
    "DisjointSplits",
    "GroupInOneSplit",
    "Violation",
    "ExpectationError",
    "SEVERITIES",
    "resolve",
    "rule_from_json",
]

SEVERITIES = ("error", "warning")
EXAMPLES = 5


class Expectation:
    """Base class of a rule. ``severity`` is ``"error"`` (fails the build) or ``"warning"``."""

    kind: ClassVar[str] = "expectation"
    #: ``row`` rules are checked row by row; ``split`` from a split's statistics; ``keys`` across rows and splits.
    scope: ClassVar[str] = "row"

    def __init__(self, *, severity: str = "error"):
        if severity not in SEVERITIES:
            raise ConfigError(f"{type(self).__name__}: severity must be 'error' or 'warning', got {severity!r}")
        self.severity = severity

    @property
    def column(self) -> str | None:
        return None

    def describe(self) -> str:
        """The rule in a few words, e.g. ``range [0, 130]``."""
        return self.kind

    def _json_fields(self) -> dict[str, Any]:
        return {}

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        out.update(self._json_fields())
        if self.severity != "error":
            out["severity"] = self.severity
        return out

    def check_declaration(self, features: "Features", key: Sequence[str], where: str) -> None:
        """Raise :class:`ConfigError` when the rule cannot apply to these features."""
        if self.column is not None and self.column not in features:
            raise ConfigError(
                f"{where}: expectation {self.describe()} names column {self.column!r}, which is not a declared "
                f"feature ({', '.join(features)}); fix the name in _info()."
            )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Expectation) and self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash(repr(sorted(self.to_json().items())))

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.to_json().items() if k != "kind")
        return f"{type(self).__name__}({fields})"


class _ColumnRule(Expectation):
    def __init__(self, column: str, *, severity: str = "error"):
        super().__init__(severity=severity)
        if not isinstance(column, str) or not column:
            raise ConfigError(f"{type(self).__name__} needs a column name, got {column!r}")
        self._column = column

    @property
    def column(self) -> str:
        return self._column

    def _json_fields(self) -> dict[str, Any]:
        return {"column": self._column}


class NotNull(_ColumnRule):
    """No null in ``column``. ``nullable=False`` on a feature implies it, as an error."""

    kind = "not_null"

    def describe(self) -> str:
        return "not null"


class Range(_ColumnRule):
    """Every non-null value of ``column`` within ``[min, max]``; NaN is outside every range."""

    kind = "range"

    def __init__(self, column: str, min: Any = None, max: Any = None, *, severity: str = "error"):  # noqa: A002
        super().__init__(column, severity=severity)
        if min is None and max is None:
            raise ConfigError(f"Range({column!r}) needs min=, max= or both")
        if min is not None and max is not None and min > max:
            raise ConfigError(f"Range({column!r}): min {min!r} is above max {max!r}")
        self.min = min
        self.max = max

    def describe(self) -> str:
        low = "-inf" if self.min is None else repr(self.min)
        high = "inf" if self.max is None else repr(self.max)
        return f"range [{low}, {high}]"

    def _json_fields(self) -> dict[str, Any]:
        out = super()._json_fields()
        if self.min is not None:
            out["min"] = self.min
        if self.max is not None:
            out["max"] = self.max
        return out

    def check_declaration(self, features: "Features", key: Sequence[str], where: str) -> None:
        super().check_declaration(features, key, where)
        from labdatasets.features import ClassLabel, Value

        feature = features[self.column]
        if not isinstance(feature, (Value, ClassLabel)) or feature.kind == "text":
            raise ConfigError(f"{where}: Range applies to numbers, dates and times; {self.column!r} is {feature.describe()}")


class AllowedValues(_ColumnRule):
    """Every non-null value of ``column`` is one of ``values`` (class names for a ``ClassLabel``)."""

    kind = "allowed_values"

    def __init__(self, column: str, values: Iterable[Any], *, severity: str = "error"):
        super().__init__(column, severity=severity)
        self.values = list(values)
        if not self.values:
            raise ConfigError(f"AllowedValues({column!r}) needs at least one value")

    def describe(self) -> str:
        shown = ", ".join(repr(v) for v in self.values[:6]) + (", ..." if len(self.values) > 6 else "")
        return f"allowed values {{{shown}}}"

    def _json_fields(self) -> dict[str, Any]:
        return {**super()._json_fields(), "values": list(self.values)}

    def check_declaration(self, features: "Features", key: Sequence[str], where: str) -> None:
        super().check_declaration(features, key, where)
        from labdatasets.features import ClassLabel

        feature = features[self.column]
        if isinstance(feature, ClassLabel):
            unknown = [v for v in self.values if str(v) not in feature.names]
            if unknown:
                raise ConfigError(f"{where}: AllowedValues({self.column!r}) names {unknown}, not classes of {feature.names}")


class Pattern(_ColumnRule):
    """Every non-null text of ``column`` matches ``regex`` in full (RE2 syntax, as in ``pyarrow.compute``)."""

    kind = "pattern"

    def __init__(self, column: str, regex: str, *, severity: str = "error"):
        super().__init__(column, severity=severity)
        try:
            re.compile(regex)
        except re.error as exc:
            raise ConfigError(f"Pattern({column!r}, {regex!r}) is not a valid regular expression: {exc}") from exc
        self.regex = regex

    def describe(self) -> str:
        return f"pattern {self.regex!r}"

    def _json_fields(self) -> dict[str, Any]:
        return {**super()._json_fields(), "regex": self.regex}

    def check_declaration(self, features: "Features", key: Sequence[str], where: str) -> None:
        super().check_declaration(features, key, where)
        feature = features[self.column]
        if getattr(feature, "dtype", None) not in ("string", "large_string"):
            raise ConfigError(f"{where}: Pattern applies to text; {self.column!r} is {feature.describe()}")


class MaxNullShare(_ColumnRule):
    """At most a share ``share`` (between 0 and 1) of a split's rows are null in ``column``."""

    kind = "max_null_share"
    scope = "split"

    def __init__(self, column: str, share: float, *, severity: str = "error"):
        super().__init__(column, severity=severity)
        if not 0 <= float(share) <= 1:
            raise ConfigError(f"MaxNullShare({column!r}): share must be between 0 and 1, got {share!r}")
        self.share = float(share)

    def describe(self) -> str:
        return f"at most {self.share:.0%} nulls"

    def _json_fields(self) -> dict[str, Any]:
        return {**super()._json_fields(), "share": self.share}


class UniqueKey(Expectation):
    """No key twice in one split (implied when the info declares a ``key``)."""

    kind = "unique_key"
    scope = "keys"

    def describe(self) -> str:
        return "key unique in its split"

    def check_declaration(self, features: "Features", key: Sequence[str], where: str) -> None:
        if not key:
            raise ConfigError(f"{where}: UniqueKey needs a key; declare key= in _info()")


class DisjointSplits(Expectation):
    """No key in two splits (implied when the info declares a ``key``); ``ignore`` lists splits allowed to overlap."""

    kind = "disjoint_splits"
    scope = "keys"

    def __init__(self, *, ignore: Sequence[str] = (), severity: str = "error"):
        super().__init__(severity=severity)
        self.ignore = sorted(ignore)

    def describe(self) -> str:
        return "no key in two splits" + (f" (except {', '.join(self.ignore)})" if self.ignore else "")

    def _json_fields(self) -> dict[str, Any]:
        return {"ignore": list(self.ignore)} if self.ignore else {}

    def check_declaration(self, features: "Features", key: Sequence[str], where: str) -> None:
        if not key:
            raise ConfigError(f"{where}: DisjointSplits needs a key; declare key= in _info()")


class GroupInOneSplit(_ColumnRule):
    """All rows with the same value of ``column`` (one customer, patient, session) in one split."""

    kind = "group_in_one_split"
    scope = "keys"

    def describe(self) -> str:
        return "each group in one split"


_KINDS: dict[str, type[Expectation]] = {
    cls.kind: cls for cls in (NotNull, Range, AllowedValues, Pattern, MaxNullShare, UniqueKey, DisjointSplits, GroupInOneSplit)
}


def rule_from_json(data: Mapping[str, Any]) -> Expectation:
    data = dict(data)
    cls = _KINDS[data.pop("kind")]
    return cls(**data)


def resolve(
    features: "Features",
    *,
    key: Sequence[str] = (),
    group_key: str | None = None,
    declared: Sequence[Expectation] = (),
    where: str = "",
) -> list[Expectation]:
    """Every rule a build checks: the declared ones plus those implied by ``nullable=False``, ``key`` and ``group_key``.

    Raises :class:`ConfigError` for a rule that does not fit the features.
    """
    rules: list[Expectation] = []
    for rule in declared:
        if not isinstance(rule, Expectation):
            raise ConfigError(f"{where}: expectations must be labdatasets.expectations rules, got {rule!r}")
    declared_kinds = {r.kind for r in declared}
    for name, feature in features.items():
        if not feature.nullable:
            rules.append(NotNull(name))
    if key:
        if "unique_key" not in declared_kinds:
            rules.append(UniqueKey())
        if "disjoint_splits" not in declared_kinds:
            rules.append(DisjointSplits())
    if group_key and not any(isinstance(r, GroupInOneSplit) and r.column == group_key for r in declared):
        rules.append(GroupInOneSplit(group_key))
    for rule in declared:
        if isinstance(rule, NotNull) and rule.column in features and not features[rule.column].nullable:
            continue  # already implied, as an error
        rules.append(rule)
    for rule in rules:
        rule.check_declaration(features, key, where)
    return rules


# ----------------------------------------------------------------------------------------- results
def _show_key(names: Sequence[str], values: Sequence[Any]) -> str:
    if len(names) == 1:
        return f"{names[0]}={values[0]!r}"
    return "(" + ", ".join(f"{n}={v!r}" for n, v in zip(names, values, strict=True)) + ")"


@dataclasses.dataclass(frozen=True)
class Violation:
    """One rule broken in one split (or across splits): how often, and a few keys of the rows.

    ``unit`` says what ``count`` counts: ``rows``, ``keys`` or ``groups``;
    ``examples`` holds up to five key tuples (``key_names`` names their columns),
    each with the splits it was found in for rules across splits.
    """

    rule: Mapping[str, Any]
    description: str
    severity: str
    split: str | None
    column: str | None
    count: int
    unit: str
    key_names: tuple[str, ...] = ()
    examples: tuple[tuple[Any, ...], ...] = ()
    detail: str = ""

    def message(self, where: str = "") -> str:
        place = f"split {self.split!r}" if self.split else "across splits"
        column = f", column {self.column!r}" if self.column else ""
        shown = ""
        if self.examples:
            shown = "; e.g. " + ", ".join(_show_key(self.key_names, e) for e in self.examples[:EXAMPLES])
        unit = self.unit if self.count != 1 else re.sub(r"\b(row|key|group)s\b", r"\1", self.unit, count=1)
        head = f"{where} " if where else ""
        detail = f" ({self.detail})" if self.detail else ""
        return f'{head}{place}{column}: rule "{self.description}" broken by {self.count:,} {unit}{detail}{shown}'

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": dict(self.rule),
            "description": self.description,
            "severity": self.severity,
            "split": self.split,
            "column": self.column,
            "count": self.count,
            "unit": self.unit,
            "key_names": list(self.key_names),
            "examples": [list(e) for e in self.examples],
            "detail": self.detail,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Violation":
        return cls(
            rule=dict(data["rule"]),
            description=data["description"],
            severity=data["severity"],
            split=data.get("split"),
            column=data.get("column"),
            count=int(data["count"]),
            unit=data.get("unit", "rows"),
            key_names=tuple(data.get("key_names", ())),
            examples=tuple(tuple(e) for e in data.get("examples", ())),
            detail=data.get("detail", ""),
        )
