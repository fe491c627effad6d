"""The crossbar in the loop: a weight layer computed as the preset maps it (methods.md section 10).

A mapped layer stores its integer weight levels q offset-free, u = q + 2^(b-1) (at one bit,
u = (q + 1) / 2 and q = 2u - 1), in b_c-bit slices u = sum_j 2^(j b_c) s_j; its binary input
spikes x are read in row groups (:class:`~mdsnn_search.hardware.mapping.CrossbarReads`, the
cost model's own mapping). Each slice's column partial sum over a row group,
p = sum_(i in group) s_(j,i) x_i, an integer in [0, rows x (2^(b_j) - 1)], goes through an ideal
ADC of that slice's resolution, and the digital side shift-adds the conversions and subtracts the
offset exactly. The layer's output is therefore the ideal output plus
step x sum_(g,j) 2^(j b_c) (ADC(p_(j,g)) - p_(j,g)) (x 2 at one bit), which is how it is
computed: today's forward pass unchanged, plus that error. At a resolution that reads every
partial sum exactly the error is exactly zero, so the output equals the ideal one bit for bit.
Training passes gradients straight through the ADC (the error is a constant to autograd).

The ideal ADC of b bits reads a partial sum p >= 0 as min(round(p / D), 2^b - 1) x D with a
power-of-two step D = 2^s, the least with (2^b - 1) D >= P_max: it keeps the top b bits of the
partial-sum word, rounding the rest and clipping above. P_max is per slice and layer: ``full``,
rows per read x (2^(b_j) - 1), the largest sum the rows can produce; or ``calibrated``, the
largest partial sum of the first batch the layer converts (NeuroSim and NICE use both).

Device variation (preset ``crossbar.variation_sigma``, 0 by default) multiplies each cell's
conductance by exp(N(0, sigma^2)) (median 1), drawn per seed, at evaluation only: training sees
the nominal cells, the ranges are calibrated on them, and the digital side still subtracts the
nominal offset, so the error is ADC(p_varied) - p.

All partial sums of a layer come from one grouped convolution: the input channels are padded to
whole row tiles and each tile is a group whose filters are every (fold, slice, output channel)'s
slice weights, masked to the fold's taps.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from mdsnn_search.errors import ConfigError
from mdsnn_search.hardware.mapping import CrossbarReads

AdcRange = Literal["calibrated", "full"]


class CrossbarADC(nn.Module):
    """The conversion error of one mapped layer, added to its ideal output."""

    p_max: torch.Tensor

    def __init__(
        self,
        reads: CrossbarReads,
        *,
        kernel: int,
        w_bits: int,
        adc_range: AdcRange = "calibrated",
        variation_sigma: float = 0.0,
    ) -> None:
        super().__init__()
        self.reads = reads
        self.variation_sigma = variation_sigma
        self.variation_seed = 0
        self._variation: torch.Tensor | None = None
        self.kernel = kernel
        self.w_bits = w_bits
        self.adc_range: AdcRange = adc_range
        rows = reads.rows * min(kernel * kernel, reads.taps_per_pe)  # the rows one read sums
        full = [float(rows * (2**bits - 1)) for bits in reads.slice_bits]
        # -1: not calibrated yet (the first batch sets it).
        initial = full if adc_range == "full" else [-1.0] * len(full)
        # Not persistent: a checkpoint holds the network; its spec says how it was mapped.
        self.register_buffer("p_max", torch.tensor(initial, dtype=torch.float64), persistent=False)

    def _slices(self, levels: torch.Tensor) -> list[torch.Tensor]:
        """Offset-free stored value u of each weight, split into its slices (least significant
        first)."""
        u = (levels + 1) / 2 if self.w_bits == 1 else levels + 2 ** (self.w_bits - 1)
        slices = []
        for j, bits in enumerate(self.reads.slice_bits):
            shifted = torch.floor(u / 2 ** (j * self.reads.bits_per_cell))
            slices.append(torch.remainder(shifted, 2**bits))
        return slices

    def _tap_masks(self, like: torch.Tensor) -> torch.Tensor:
        """[fold, k, k]: 1 where a tap belongs to the fold's PE (taps in row-major order)."""
        taps = torch.arange(self.kernel * self.kernel, device=like.device)
        folds = torch.arange(self.reads.fold, device=like.device)
        mask = (taps[None, :] // self.reads.taps_per_pe) == folds[:, None]
        return mask.to(like.dtype).view(self.reads.fold, self.kernel, self.kernel)

    def draw_variation_(self, seed: int) -> None:
        """Draw the cells' conductance factors anew from ``seed`` (at the next evaluation)."""
        self.variation_seed = seed
        self._variation = None

    def _cell_factors(self, shape: torch.Size, like: torch.Tensor) -> torch.Tensor:
        """exp(N(0, sigma^2)) per cell of every slice: drawn once per seed, on the CPU so that a
        seed gives the same draw on every device."""
        if self._variation is None or self._variation.shape != shape:
            generator = torch.Generator().manual_seed(self.variation_seed)
            noise = torch.randn(shape, generator=generator, dtype=torch.float32)
            self._variation = torch.exp(self.variation_sigma * noise)
        return self._variation.to(like.device)

    def partial_sums(
        self,
        x: torch.Tensor,
        levels: torch.Tensor,
        conv: Mapping[str, object],
        *,
        varied: bool = False,
    ) -> torch.Tensor:
        """[N, row tiles, fold, slices, C_out, ...]: every row group's column partial sums.

        ``levels`` are [C_out, C_in, k, k] (a linear layer's [C_out, C_in] with ``conv`` empty);
        ``conv`` holds the layer's stride, padding and dilation. ``varied``: each cell's
        conductance carries its drawn variation factor.
        """
        r = self.reads
        linear = levels.dim() == 2
        w4 = levels[:, :, None, None] if linear else levels
        x4 = x[:, :, None, None] if linear else x
        c_out, c_in = w4.shape[:2]
        pad = r.row_tiles * r.rows - c_in
        if pad < 0:
            raise ConfigError(
                f"crossbar mapping: {c_in} input channels do not fit {r.row_tiles} row tiles"
            )
        slices = torch.stack(self._slices(w4), dim=0)  # [J, C_out, C_in, k, k]
        if varied:
            slices = slices * self._cell_factors(slices.shape, slices)
        slices = F.pad(slices, (0, 0, 0, 0, 0, pad))
        x4 = F.pad(x4, (0, 0, 0, 0, 0, pad))
        k = w4.shape[-1]
        masked = slices[None] * self._tap_masks(slices)[:, None, None, None]  # [F, J, Co, Ci, k, k]
        tiles = masked.unflatten(3, (r.row_tiles, r.rows))  # [F, J, Co, R, B, k, k]
        weight = tiles.permute(3, 0, 1, 2, 4, 5, 6).reshape(-1, r.rows, k, k)
        p = F.conv2d(x4, weight, None, groups=r.row_tiles, **conv)  # type: ignore[call-overload]
        p = p.unflatten(1, (r.row_tiles, r.fold, len(r.slice_bits), c_out))
        return p[..., 0, 0] if linear else p

    @torch.no_grad()
    def error(
        self, x: torch.Tensor, levels: torch.Tensor, conv: Mapping[str, object], name: str
    ) -> torch.Tensor:
        """ADC error of the layer's output in weight steps: sum 2^(j b_c) (ADC(p) - p)."""
        if not bool(((x == 0) | (x == 1)).all()):
            raise ConfigError(
                f"layer {name!r}: the crossbar in the loop maps binary spike inputs only, but this "
                "layer reads other values (an encoding layer or a pooled input: fix its precision "
                "with search_space.fixed_layers and leave it out of the mapped layers)"
            )
        p = self.partial_sums(x.to(torch.float32), levels.to(torch.float32), conv)
        if bool((self.p_max < 0).any()) and bool(p.amax() > 0):
            # calibrated on the first batch that drives any row (a dry pass on zeros does not)
            dims = [d for d in range(p.dim()) if d != 3]
            self.p_max.copy_(p.amax(dim=dims).to(torch.float64).clamp_min(1.0))
        read = p  # what the columns carry: the ideal sums, or with variation at evaluation
        if self.variation_sigma > 0 and not self.training:
            read = self.partial_sums(
                x.to(torch.float32), levels.to(torch.float32), conv, varied=True
            )
        error = torch.zeros_like(p[:, 0, 0, 0])
        for j, bits in enumerate(self.reads.adc_bits):
            top = 2**bits - 1
            shift = 0
            while top * 2**shift < float(self.p_max[j]):
                shift += 1
            step = 2.0**shift
            converted = torch.clamp(torch.round(read[:, :, :, j] / step), max=top) * step
            weight = 2.0 ** (j * self.reads.bits_per_cell)
            error = error + (converted - p[:, :, :, j]).sum(dim=(1, 2)) * weight
        return error * 2 if self.w_bits == 1 else error

    def extra_repr(self) -> str:
        r = self.reads
        return (
            f"row_tiles={r.row_tiles}, fold={r.fold}, slice_bits={r.slice_bits}, "
            f"adc_bits={r.adc_bits}, range={self.adc_range}, "
            f"variation_sigma={self.variation_sigma}"
        )
