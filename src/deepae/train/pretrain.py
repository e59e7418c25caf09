"""Greedy layer-wise pretraining (Hinton & Salakhutdinov 2006; Bengio et al. 2007).

Each (encoder block, mirrored decoder block) pair is trained as a shallow autoencoder on the
codes of the pairs below it, outermost first; the stack is then fine-tuned end to end by the
caller. Works for any model that implements ``layer_pairs()``; the trainer stays model-agnostic.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from ..losses import Objective
from ..models.base import AEOutput
from .trainer import TrainConfig, Trainer


def greedy_pretrain(
    model: nn.Module, x: torch.Tensor, objective: Objective, config: TrainConfig
) -> list[list[dict[str, float]]]:
    """Pretrain every layer pair of ``model`` on ``x``; returns one history per pair."""
    pairs = model.layer_pairs()
    sigmoid = model.config.output_activation == "sigmoid"
    h = model._prepare(torch.as_tensor(x, dtype=torch.float32))
    histories = []
    for depth, (enc, dec) in enumerate(pairs):
        outermost = depth == 0

        def loss_fn(pair: nn.Module, batch: torch.Tensor, outermost: bool = outermost):
            z = pair[0](batch)
            out = pair[1](z)
            if outermost:
                # The outermost pair reconstructs the data itself, with the model's own loss.
                output = AEOutput(z=z, logits=out) if sigmoid else AEOutput(x_hat=out, z=z)
                loss = objective.reconstruction(output, batch)
            else:
                # Inner pairs reconstruct hidden activations, which are not probabilities.
                loss = (out - batch).square().mean()
            return loss, {"recon": loss}

        pair = nn.Sequential(enc, dec)
        trainer = Trainer(pair, loss_fn, dataclasses.replace(config, early_stopping=None, scheduler=None))
        histories.append(trainer.fit(h))
        pair.eval()
        with torch.no_grad():
            h = torch.cat([enc(chunk) for chunk in h.to(trainer.device).split(config.eval_batch_size)])
    return histories
