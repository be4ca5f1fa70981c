"""``synesthesia train-prior``: a learned latent prior (conditional flow) for a joint VAE run."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from synesthesia.cli.options import add_section_arguments, section_values

# the flow's shape and training fields set from the run, not from flags
FROM_THE_RUN = ("latent_dim", "modalities", "condition_dim")
ROWS = 20000


def cmd_train_prior(args: argparse.Namespace) -> int:
    from synesthesia.sampling.flow_fit import FlowTrainConfig
    from synesthesia.sampling.flow_net import FlowPriorConfig
    from synesthesia.training.prior import train_flow_prior

    train = FlowTrainConfig(**section_values(args, FlowTrainConfig, args.train_fields, "train_"))
    net = section_values(args, FlowPriorConfig, args.net_fields, "net_")
    say = None if args.quiet else (lambda line: print(line, flush=True))
    path, summary = train_flow_prior(args.run, train, net, n=args.n, partial_captions=args.partial_captions, log=say)
    print(json.dumps({k: v for k, v in summary.items() if k not in ("losses", "train")}))
    print(f"wrote {path}; generate with it: synesthesia generate {args.run} --prior flow ..., "
          "or pipe.generate(..., prior='flow')")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from synesthesia.sampling.flow_fit import FlowTrainConfig
    from synesthesia.sampling.flow_net import FlowPriorConfig

    p = sub.add_parser("train-prior", help="fit a learned latent prior (conditional flow) to a joint VAE run",
                       description="Encode the run's training data with its joint VAE and fit a conditional "
                                   "rectified flow over the latent, conditional on any subset of the "
                                   "modalities, for a fixed number of steps; saved as RUN/priors/flow."
                                   "safetensors and flow.json, and used by generate/evaluate --prior flow.")
    p.add_argument("run", type=Path, help="joint VAE run folder")
    train_fields = add_section_arguments(p, FlowTrainConfig, skip=("log_every",), dest_prefix="train_",
                                         choices={"latent": ["sample", "mean"],
                                                  "time_sampling": ["uniform", "logit_normal"]})
    net_fields = add_section_arguments(p, FlowPriorConfig, skip=FROM_THE_RUN, dest_prefix="net_")
    p.add_argument("--n", type=int, default=ROWS,
                   help=f"training samples to encode (default {ROWS}, or the run's data.n_train if fewer)")
    p.add_argument("--partial-captions", type=float, default=0.3,
                   help="on the world, also condition on partial captions of the same samples, each attribute "
                        "left out with this probability (default 0.3; 0 turns it off)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=cmd_train_prior, train_fields=train_fields, net_fields=net_fields)
