"""The Loading layer's records and writers: pin records, pinning, source status, table snapshots."""
