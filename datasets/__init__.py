"""The lab's dataset builders, one folder per dataset, grouped by product or task.

``datasets/<group>/<name>/<name>_dataset_builder.py`` defines ``class Builder``.
Nothing here is imported by ``import labdatasets``; a builder module is imported
the first time its dataset is asked for (see :mod:`labdatasets.registry`).
"""
