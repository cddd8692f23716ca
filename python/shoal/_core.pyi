"""Type stubs for the Rust extension ``shoal._core``."""

__version__: str
