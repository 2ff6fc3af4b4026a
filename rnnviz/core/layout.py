"""Sequence layouts: what a recurrent layer takes and returns (packed, time-first, unbatched), seen
as one batch-first [batch, time, features] tensor and its lengths, and back.

Shared by the capture (rnnviz.core.capture) and the edited recurrence (rnnviz.core.edits).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence


def batch_first(sequence, module):
    """A padded [batch, time, features] view of a layer's input or output, and the lengths."""
    if isinstance(sequence, PackedSequence):
        padded, lengths = pad_packed_sequence(sequence, batch_first=True)
        return padded, lengths.tolist()
    if sequence.dim() == 2:  # unbatched [time, features]
        padded = sequence.unsqueeze(0)
    else:
        padded = sequence if module.batch_first else sequence.transpose(0, 1)
    return padded, [padded.shape[1]] * padded.shape[0]


def initial_state(state, direction, batch, width, like):
    """[batch, width] initial state of one direction (zeros when the user gave none)."""
    if state is None:
        return like.new_zeros(batch, width)
    state = state[direction]
    return state.unsqueeze(0) if state.dim() == 1 else state


def reverse(x, lengths, full_length):
    """Reverse each sequence within its own length (its own inverse)."""
    if full_length:
        return x.flip(1)
    steps = x.shape[1]
    t = torch.arange(steps, device=x.device).unsqueeze(0)
    index = torch.where(t < lengths.unsqueeze(1), lengths.unsqueeze(1) - 1 - t, t)
    return x.gather(1, index.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


def padding_mask(lengths, steps):
    """[batch, time, 1]: True past each sequence's length."""
    return (
        torch.arange(steps, device=lengths.device).unsqueeze(0) >= lengths.unsqueeze(1)
    ).unsqueeze(-1)


def like_input(padded: torch.Tensor, layer_input, module: nn.Module):
    """A batch-first [B, T, F] output in the layout of the layer's input (packed, time-first, …)."""
    if isinstance(layer_input, PackedSequence):
        order = layer_input.sorted_indices
        ordered = padded if order is None else padded[order]  # sorted by decreasing length
        sizes = layer_input.batch_sizes.to(padded.device)
        rows = torch.arange(ordered.shape[0], device=padded.device)
        mask = rows.unsqueeze(0) < sizes.unsqueeze(1)  # [time, batch]: time-major packing order
        return layer_input._replace(data=ordered.transpose(0, 1)[mask])
    if layer_input.dim() == 2:
        return padded.squeeze(0)
    return padded if module.batch_first else padded.transpose(0, 1)
