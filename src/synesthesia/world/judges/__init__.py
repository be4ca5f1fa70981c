"""The world's judges: attribute oracles that read a sample's attributes back from its image,
sound or video (trained on the world, cached, each at least 99 % accurate on held-out samples),
the caption parser for text (:mod:`synesthesia.world.parser`), and coherence scoring of what they
read against what was asked for."""

from synesthesia.world.judges.coherence import UNSPECIFIED, Coherence, chance_coherence, coherence, oracle_coherence
from synesthesia.world.judges.oracles import (
                                                DEFAULT_TRAINING,
                                                SHOWN,
                                                Oracle,
                                                OracleError,
                                                OracleTraining,
                                                TextOracle,
                                                default_cache_dir,
                                                get_oracle,
                                                get_oracles,
                                                oracle_attributes,
                                                oracle_world,
)

__all__ = ["DEFAULT_TRAINING", "SHOWN", "UNSPECIFIED", "Coherence", "Oracle", "OracleError", "OracleTraining",
           "TextOracle", "chance_coherence", "coherence", "default_cache_dir", "get_oracle", "get_oracles",
           "oracle_attributes", "oracle_coherence", "oracle_world"]
