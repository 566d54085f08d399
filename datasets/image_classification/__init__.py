"""Image classification datasets."""
