"""Test support shared by every test folder and by ``bench/``: no tests live here."""
