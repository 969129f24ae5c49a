"""Datasets in: the upload formats (npz, IDX, CSV, image-folder zip), their checks, the artifact store,
and the batch pipeline (split, epoch order, normalisation, augmentation)."""
from .errors import DatasetRejected
from .ingestion import IngestedDataset, ingest
from .upload import IngestLimits, Upload

__all__ = ["DatasetRejected", "IngestLimits", "IngestedDataset", "Upload", "ingest"]
