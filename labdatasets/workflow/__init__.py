"""The author's and reviewer's tools: scaffolding, the docs catalog, the version gate, the checkout."""
