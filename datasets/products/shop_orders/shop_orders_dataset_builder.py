"""Shop orders: web, app and in-store orders of the lab's shop product, from the warehouse MySQL.

Loading: one SQL query on the ``warehouse`` connection (orders joined with the
customer's country), pinned into Parquet with exact types: ``amount`` stays
DECIMAL(10,2), ``placed_at`` a zone-less DATETIME. Processing: each order gets
its month and a coupon flag; train/test 80/20 by a hash of ``order_id``.

How it is pinned: on a lab machine with the warehouse configured (the
environment variable ``LABDATASETS_CONNECTION_WAREHOUSE``, or
``[connections.warehouse]`` in the config file), ``labdatasets pin shop_orders``
writes ``snapshots/shop_orders/<version>.json``, to be committed. The tests
load ``dummy_data/warehouse.sql`` into a throwaway MariaDB database instead and
pin into a temporary folder, so no pin record here points at a test server.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

import labdatasets as lds
from labdatasets import features as F
from labdatasets import loaders
from labdatasets import processing as P

CHANNELS = ["web", "app", "store"]

QUERY = """
SELECT o.order_id, o.customer_id, c.country, o.channel, o.amount, o.quantity, o.coupon, o.placed_at
FROM orders AS o JOIN customers AS c ON c.customer_id = o.customer_id
WHERE o.placed_at >= '2026-01-01' AND o.placed_at < '2026-04-01'
ORDER BY o.order_id
"""


def tidy(table: pa.Table) -> pa.Table:
    """Pinned query rows -> the published features (one batch at a time)."""
    return pa.table(
        {
            "order_id": table["order_id"],
            "customer_id": table["customer_id"],
            "country": table["country"],
            "channel": table["channel"],
            "amount": table["amount"],
            "amount_per_item": pc.divide(pc.cast(table["amount"], pa.float64()), pc.cast(table["quantity"], pa.float64())),
            "quantity": table["quantity"],
            "used_coupon": pc.is_valid(table["coupon"]),
            "month": pc.cast(pc.month(table["placed_at"]), pa.int8()),
            "placed_at": table["placed_at"],
        }
    )


class Builder(lds.DatasetBuilder):
    """Shop orders of the first quarter of 2026, one row per order, from the warehouse database."""

    VERSION = "1.0.0"
    PIN_INSTRUCTIONS = (
        "the shop team pins it on a lab machine where the 'warehouse' connection is configured "
        "(LABDATASETS_CONNECTION_WAREHOUSE or [connections.warehouse]) with LABDATASETS_SNAPSHOT_STORE set to "
        "the lab's store, then commits snapshots/shop_orders/<version>.json."
    )
    RELEASE_NOTES = {
        "1.0.0": "Orders placed from 2026-01-01 to 2026-03-31 with the customer's country; train/test 80/20 by a "
        "hash of order_id.",
    }

    def _info(self) -> lds.DatasetInfo:
        return lds.DatasetInfo(
            features=F.Features(
                {
                    "order_id": F.Value("int64", doc="Order number (unique)", nullable=False),
                    "customer_id": F.Value("uint32", doc="Customer number"),
                    "country": F.Text(doc="ISO 3166 country code of the customer"),
                    "channel": F.ClassLabel(names=CHANNELS, doc="Where the order was placed"),
                    "amount": F.Value("decimal128(10, 2)", doc="Order total (EUR), exact"),
                    "amount_per_item": F.Value("float64", doc="amount / quantity"),
                    "quantity": F.Value("int16", doc="Items in the order"),
                    "used_coupon": F.Value("bool", doc="Whether a coupon code was used"),
                    "month": F.Value("int8", doc="Month the order was placed (1-12)"),
                    "placed_at": F.Value("timestamp[us]", doc="When the order was placed (shop's local time)"),
                }
            ),
            key="order_id",
            supervised_keys=("amount_per_item", "channel"),
            owners=["shop-analytics@lab.example"],
            license="Internal",
        )

    def _sources(self):
        return {"orders": loaders.SQLSource(QUERY.strip(), connection="warehouse")}

    def _process(self, sources):
        rows = sources["orders"] | "Tidy" >> P.MapBatches(tidy)
        return P.split_by_hash(rows, key="order_id", ratios={"train": 0.8, "test": 0.2})
