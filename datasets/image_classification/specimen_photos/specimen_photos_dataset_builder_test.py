"""specimen_photos built from its dummy data: two tables, a labelling sheet and a folder of photos."""

import pytest

from labdatasets.datasets.image_classification.specimen_photos import specimen_photos_dataset_builder
from labdatasets.testing import DatasetBuilderTestCase

pytestmark = pytest.mark.slow  # builds with Apache Beam


class SpecimenPhotosTest(DatasetBuilderTestCase):
    BUILDER = specimen_photos_dataset_builder.Builder
    SPLITS = {"train": 16, "validation": 5, "test": 1}
