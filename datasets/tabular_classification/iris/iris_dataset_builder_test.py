"""iris built from its dummy data (three samples of each species) with the real Beam pipeline."""

import pytest

from labdatasets.datasets.tabular_classification.iris import iris_dataset_builder
from labdatasets.testing import DatasetBuilderTestCase

pytestmark = pytest.mark.slow  # builds with Apache Beam


class IrisTest(DatasetBuilderTestCase):
    BUILDER = iris_dataset_builder.Builder
    SPLITS = {"train": 7, "test": 2}
