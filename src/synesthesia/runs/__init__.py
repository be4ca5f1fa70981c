"""Runs: what a run is made of (:class:`RunConfig`: family, model, modalities, data, train) and
what it is on disk (a run folder; :mod:`synesthesia.runs.folder` is the only code that knows its
layout)."""

from synesthesia.runs.config import PRECISIONS, SCHEDULES, RunConfig, TrainConfig
from synesthesia.runs.folder import (
                                     RunError,
                                     build_model,
                                     flow_prior_info,
                                     has_flow_prior,
                                     load_expander,
                                     load_flow_prior,
                                     load_modalities,
                                     load_model,
                                     load_prior,
                                     load_weights,
                                     read_finished_run,
                                     read_metrics,
                                     read_part,
                                     read_run,
                                     save_expander,
                                     save_flow_prior,
                                     save_modalities,
                                     save_part,
                                     save_prior,
                                     save_weights,
                                     write_metrics,
)

__all__ = ["PRECISIONS", "SCHEDULES", "RunConfig", "RunError", "TrainConfig", "build_model", "flow_prior_info", "has_flow_prior", "load_expander",
           "load_flow_prior", "load_model", "load_modalities", "load_prior", "load_weights", "read_finished_run",
           "read_metrics", "read_part", "read_run", "save_expander", "save_flow_prior", "save_modalities", "save_part",
           "save_prior", "save_weights", "write_metrics"]
