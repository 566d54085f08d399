"""Names read from records (pin records, output records, dataset_info.json) are checked before any file is touched.

A regular expression anchored with ``$`` also matches before a final newline, so ``"train\n"`` or an
oid followed by a newline passed these checks and reached a filesystem call. They end with ``\\Z``.
"""

from __future__ import annotations

import pytest

from labdatasets import safe_names
from labdatasets.errors import LabDatasetsError, SnapshotError
from labdatasets.naming import Version

OID = "0123456789abcdef" * 4
SHARD = "product_a-train-00000-of-00001.parquet"


@pytest.mark.parametrize(
    "check, good",
    [
        (safe_names.check_oid, OID),
        (safe_names.split_name, "train"),
        (safe_names.shard_filename, SHARD),
        (safe_names.code_path, "sub/helpers.py"),
        (safe_names.dataset_name, "product_a"),
        (safe_names.config_name, "en-2024.v1+x"),
        (safe_names.exact_version, "1.20.3"),
        (safe_names.utc_time, "2024-02-29T23:59:59Z"),
        (lambda v, where: safe_names.sha256_digest(v, where=where, what="snapshot id"), OID),
        (safe_names.package_version, "0.1.1.dev3+g1a2b3c4"),
    ],
)
@pytest.mark.parametrize("suffix", ["\n", "\r\n", " ", "/"])
def test_a_name_with_anything_after_it_is_refused_before_any_file_is_touched(check, good, suffix):
    assert check(good, where="Pin record x.json") == good
    with pytest.raises(SnapshotError) as info:
        check(good + suffix, where="Pin record x.json")
    message = str(info.value)
    assert message.startswith("Pin record x.json names the ") and repr(good + suffix) in message
    assert "it was refused before any file was touched" in message


@pytest.mark.parametrize("text", ["1.2.0\n", "1.2.0 ", "1.2\n.0"])
def test_a_version_with_a_trailing_newline_is_not_a_version(text):
    with pytest.raises(LabDatasetsError):
        Version(text)
