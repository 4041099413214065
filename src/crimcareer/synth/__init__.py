"""crimcareer.synth: a calibrated synthetic Dutch register population (see docs/synthetic.md)."""

from crimcareer.synth.generator import generate
from crimcareer.synth.params import default_params

__all__ = ["generate", "default_params"]
