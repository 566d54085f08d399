"""product_a built from its dummy data: both versions, with the real Beam pipeline."""

import pytest

from labdatasets.datasets.products.product_a import product_a_dataset_builder
from labdatasets.testing import DatasetBuilderTestCase

pytestmark = pytest.mark.slow  # builds with Apache Beam


class ProductATest(DatasetBuilderTestCase):
    BUILDER = product_a_dataset_builder.Builder
    SPLITS = {"train": 9, "test": 3}


class ProductA100Test(ProductATest):
    """1.0.0 reads the same dummy export without the isotope columns."""

    VERSION = "1.0.0"
    SPLITS = {"train": 9, "test": 3}
