"""The llama.cpp quantizations hubship publishes as `gguf-<quant>`, with their default quality bounds.

Low-bit types (3 bits or less, and every IQ type) are the ones an importance matrix helps; those
marked `needs_imatrix` cannot be made without one (domain/imatrix.py decides which variant is kept).

Default gate: mean KL(reference || GGUF) per position, a generous bound for a sound conversion
(typical values are several times lower), so a breach means something broke. Top-1 agreement is
measured and reported but not gated by default: on high-entropy positions near-ties flip under
any rounding. Users set their own bounds through the `thresholds` option.
"""

from __future__ import annotations

import attrs


@attrs.frozen(kw_only=True)
class Quant:
    """A llama.cpp quantization: its type name, about how many bits per weight, the default KL bound."""

    name: str
    bpw: float
    kl_max: float
    needs_imatrix: bool = False

    @property
    def format_name(self) -> str:
        return f"gguf-{self.name.lower()}"

    @property
    def low_bit(self) -> bool:
        """3 bits or less, or an IQ type: an importance matrix may lower its loss (q4 and up gain little)."""
        return self.name.startswith(("Q3_", "Q2_", "IQ"))


def _q(name: str, bpw: float, kl_max: float, needs_imatrix: bool = False) -> Quant:
    return Quant(name=name, bpw=bpw, kl_max=kl_max, needs_imatrix=needs_imatrix)


QUANTS = (
    _q("F16", 16.0, 5e-3),
    _q("BF16", 16.0, 5e-3),
    _q("Q8_0", 8.5, 0.01),
    _q("Q6_K", 6.56, 0.03),
    _q("Q5_K_M", 5.69, 0.06),
    _q("Q5_K_S", 5.54, 0.07),
    _q("Q5_1", 6.0, 0.07),
    _q("Q5_0", 5.5, 0.08),
    _q("Q4_K_M", 4.89, 0.12),
    _q("Q4_K_S", 4.58, 0.15),
    _q("Q4_1", 5.0, 0.15),
    _q("Q4_0", 4.5, 0.2),
    _q("IQ4_XS", 4.25, 0.15),
    _q("IQ4_NL", 4.5, 0.15),
    _q("Q3_K_L", 4.27, 0.3),
    _q("Q3_K_M", 3.91, 0.35),
    _q("Q3_K_S", 3.5, 0.5),
    _q("IQ3_M", 3.66, 0.35),
    _q("IQ3_S", 3.44, 0.4),
    _q("IQ3_XS", 3.3, 0.5, needs_imatrix=True),  # part IQ3_XXS/IQ2_S tensors, which llama.cpp makes with an imatrix only
    _q("IQ3_XXS", 3.06, 0.6, needs_imatrix=True),
    _q("Q2_K", 2.96, 1.0),
    _q("Q2_K_S", 2.7, 1.2, needs_imatrix=True),
    _q("IQ2_M", 2.7, 1.2, needs_imatrix=True),
    _q("IQ2_S", 2.5, 1.3, needs_imatrix=True),
    _q("IQ2_XS", 2.31, 1.5, needs_imatrix=True),
    _q("IQ2_XXS", 2.06, 1.8, needs_imatrix=True),
    _q("IQ1_M", 1.75, 2.5, needs_imatrix=True),
    _q("IQ1_S", 1.56, 3.0, needs_imatrix=True),
)
