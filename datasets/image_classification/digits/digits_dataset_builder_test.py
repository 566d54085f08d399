"""digits built from its dummy data (one PNG per digit, in the ImageFolder layout)."""

import pytest

from labdatasets.datasets.image_classification.digits import digits_dataset_builder
from labdatasets.testing import DatasetBuilderTestCase

pytestmark = pytest.mark.slow  # builds with Apache Beam


class DigitsTest(DatasetBuilderTestCase):
    BUILDER = digits_dataset_builder.Builder
    SPLITS = {"train": 8, "test": 2}
