"""Batches, datasets (in memory and memory-mapped) and data sources: the world, a world cache,
users' own datasets in any layout read by :mod:`synesthesia.data.readers`, prepared folders."""

from synesthesia.data.batch import MultimodalBatch
from synesthesia.data.errors import DataError
from synesthesia.data.sources import ManifestSource, WorldSource, open_source
from synesthesia.data.store import TensorDataset, batches

__all__ = ["MultimodalBatch", "TensorDataset", "batches", "DataError", "ManifestSource", "WorldSource",
           "open_source"]
