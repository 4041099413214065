"""crimcareer: disclosure-safe criminal-career studies on population registers."""

__version__ = "0.1.0"
