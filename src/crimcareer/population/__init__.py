"""Population-scale measures over the registers (Ibis expressions: DuckDB or Spark)."""

from crimcareer.population.network import alters_per_layer

__all__ = ["alters_per_layer"]
