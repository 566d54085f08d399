"""Package discovery for the repository layout the lab asked for.

Metadata, dependencies and options live in setup.cfg. This file only computes
the package list, which setup.cfg cannot express declaratively: the builder
modules (``datasets/``), the source connectors (``loaders/``) and the committed
pin records (``snapshots/``) sit at the top of the repository and are mapped
into the one ``labdatasets`` import package (see ``package_dir`` in setup.cfg).
A new builder folder is therefore picked up without editing packaging files.
"""
from setuptools import find_namespace_packages, setup

MAPPED = {
    "labdatasets.datasets": "datasets",
    "labdatasets.loaders": "loaders",
    "labdatasets.snapshots": "snapshots",
}
# Data folders (data/, dummy_data/) are listed too: Python can import any folder as a
# namespace package, and setuptools ships their files only for listed packages.
EXCLUDE = ["*__pycache__*"]

packages = ["labdatasets"] + [
    f"labdatasets.{p}" for p in find_namespace_packages("labdatasets", exclude=EXCLUDE)
]
for package, folder in MAPPED.items():
    packages.append(package)
    packages += [f"{package}.{p}" for p in find_namespace_packages(folder, exclude=EXCLUDE)]

setup(packages=packages)
