"""crimcareer.cbs: read a CBS Remote Access project folder as it is (docs/cbs.md).

- :mod:`~crimcareer.cbs.discover`: find the tables, their years and versions, choose files;
- :mod:`~crimcareer.cbs.read`: open .sav/.dta (chunked, mapped columns only), CSV (separator and
  encoding sniffed) and parquet in DuckDB, every column as text;
- :mod:`~crimcareer.cbs.mapping`: the TOML mapping a researcher edits (default shipped);
- :mod:`~crimcareer.cbs.convert`: the mapping applied, into a contract folder with a log;
- :mod:`~crimcareer.cbs.inspect`: what a folder holds, without row contents.
"""
