"""How much memory training a network takes, measured before it starts, and how much there is.

A spiking network trained through time keeps every timestep's activations for the backward pass,
so its memory grows with timesteps x batch: ``data.timesteps: 1000`` on a small network needs
gigabytes, and without a check the run only swaps and stalls. :func:`training_bytes` counts the
bytes autograd saves for backward in real forward passes at (T=1, B=1) and (T=2, B=1) and extends
the difference linearly to the asked T x B; parameters (saved by reference, not per step) are not
counted. It is a lower bound: optimizer state, the loader's workers and the allocator's slack come
on top.
"""

from __future__ import annotations

import os

import torch

from mdsnn_search.snn.models.network import SpikingNetwork


def saved_bytes(model: SpikingNetwork, timesteps: int, batch: int) -> int:
    """Bytes autograd saves for backward in one forward pass of ``[timesteps, batch]`` zeros,
    the model's own parameters left out."""
    parameters = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: set[int] = set()
    total = 0

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal total
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in parameters and storage.data_ptr() not in seen:
            seen.add(storage.data_ptr())
            total += storage.nbytes()
        return tensor

    was_training = model.training
    model.train()
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            model(torch.zeros(timesteps, batch, *model.input_shape))
    finally:
        model.train(was_training)
    return total


def training_bytes(model: SpikingNetwork, timesteps: int, batch: int) -> int:
    """Bytes autograd keeps while training ``model`` on ``[timesteps, batch]`` inputs, from two
    measured passes (see the module docstring); a lower bound."""
    one = saved_bytes(model, 1, 1)
    per_sample_step = max(0, saved_bytes(model, 2, 1) - one)
    steps = model.run_timesteps(timesteps)
    return max(0, one - per_sample_step) + per_sample_step * steps * batch


def available_bytes(device: torch.device) -> int:
    """Memory free for training on ``device``: the GPU's free memory, or the machine's available
    memory (``MemAvailable``, else all physical memory)."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
