"""Our ADC energy and area per conversion at 3-8 bits against an independent survey-fitted model.

Ours: rram_64's SpikeSim constants at 4 bits (2.03084 pJ, 693.633 um2), scaled by ZigZag's laws
(``hardware.laws.adc_energy_scale`` / ``adc_area_scale``). Theirs: the Accelergy ADC plug-in's
model (Accelergy-Project/accelergy-adc-plug-in, adc_data/model.yaml at commit 2136e9e; the model
hwcomponents-adc packages, which needs Python >= 3.12 and so does not install here), fitted on
Murmann's ADC Performance Survey 1997-2021:

- energy per conversion E = 1 / (2 x 10^((FOM_S - SNDR) / 10)) J, with the Schreier figure of
  merit FOM_S = min(302.7387 - 6.46079 ln f, 180.1416) dB (the survey's best designs at sample
  rate f) and SNDR = 6.02 b + 1.76 dB;
- area A = exp(0.066659 ln f + 0.797324 ln node_nm - 0.134373 b + 0.423657 ln E_pJ + 4.850567)
  um2 (a regression over the survey, offset to its smallest 10 %).

Also a Walden-FOM band, E = FOM_W x 2^b, at 5 and 50 fJ per conversion step (the survey's SAR
frontier and a typical design at 65 nm). The sample rate is the preset's: mux_ratio conversions
per PE cycle (8 per 104 ns = 76.9 MS/s on rram_64), the node its technology_nm.

    python benchmarks/adc_crosscheck.py          # prints the markdown table

The last line is the ratio of our 4-bit conversion energy to the Walden band's upper end.
"""

from __future__ import annotations

import math

from mdsnn_search.hardware import laws, load_preset

FOMS_INTERCEPT, FOMS_PER_LN_F, FOMS_MAX = 302.7387019052544, -6.460790934271676, 180.14159078904734
AREA_COEFFICIENTS = {
    "ln_f": 0.06665851895885958,
    "ln_node": 0.797323960429599,
    "bits": -0.13437278622014803,
    "ln_energy_pj": 0.4236571760437834,
    "intercept": 4.850567073004403,
}
WALDEN_FJ_PER_STEP = (5.0, 50.0)


def survey_energy_pj(bits: int, rate_hz: float) -> float:
    foms = min(FOMS_INTERCEPT + FOMS_PER_LN_F * math.log(rate_hz), FOMS_MAX)
    sndr = 6.02 * bits + 1.76
    return 1e12 / (2.0 * 10 ** ((foms - sndr) / 10.0))


def survey_area_um2(bits: int, rate_hz: float, node_nm: float, energy_pj: float) -> float:
    """The survey's area regression for an ADC spending ``energy_pj`` per conversion."""
    c = AREA_COEFFICIENTS
    return math.exp(
        c["ln_f"] * math.log(rate_hz)
        + c["ln_node"] * math.log(node_nm)
        + c["bits"] * bits
        + c["ln_energy_pj"] * math.log(energy_pj)
        + c["intercept"]
    )


def main() -> None:
    preset = load_preset("rram_64")
    xb, adc = preset.crossbar, preset.adc
    rate = xb.mux_ratio / (xb.pe_cycle_ns * 1e-9)
    node = preset.technology_nm
    print(f"rram_64: {node} nm, {rate / 1e6:.1f} MS/s per ADC")
    print(
        "| bits | ours pJ (x 4-bit) | Walden 5-50 fJ/step pJ (x 4-bit) | survey model pJ "
        "| ours um2 (x 4-bit) | survey area, its energy, um2 | survey area, our energy, um2 |"
    )
    print("|---|---|---|---|---|---|---|")
    ratio4 = 0.0
    base_e = preset.energy_pj.adc
    base_a = preset.area_um2.adc
    for bits in range(3, 9):
        ours_e = base_e * float(laws.adc_energy_scale(bits, adc.reference_bits))
        ours_a = base_a * float(laws.adc_area_scale(bits, adc.reference_bits))
        their_e = survey_energy_pj(bits, rate)
        walden = [fom * 2**bits / 1000.0 for fom in WALDEN_FJ_PER_STEP]
        if bits == 4:
            ratio4 = ours_e / walden[1]
        their_a = survey_area_um2(bits, rate, node, their_e)
        at_ours = survey_area_um2(bits, rate, node, ours_e)
        print(
            f"| {bits} | {ours_e:.2f} ({ours_e / base_e:.2f}) | "
            f"{walden[0]:.2f}-{walden[1]:.2f} ({2 ** (bits - 4):g}) | {their_e:.1e} | "
            f"{ours_a:.0f} ({ours_a / base_a:.2f}) | {their_a:.0f} | {at_ours:.0f} |"
        )
    print(f"adc4_energy_ours_over_walden50={ratio4:.2f}")


if __name__ == "__main__":
    main()
