"""The shipped host profiles, as TOML data files (read by ``juggler.profile``)."""
