"""Test support: worlds, fakes and harnesses shared by tests and benchmarks; no tests live here."""
