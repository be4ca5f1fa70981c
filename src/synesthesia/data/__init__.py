"""Batches, in-memory tensor datasets and data sources (world, world cache, JSONL manifest)."""

from synesthesia.data.batch import MultimodalBatch
from synesthesia.data.sources import DataError, ManifestSource, WorldSource, open_source
from synesthesia.data.store import TensorDataset, batches

__all__ = ["MultimodalBatch", "TensorDataset", "batches", "DataError", "ManifestSource", "WorldSource",
           "open_source"]
