"""Statistics shared by models and claims: two-sample tests (two_sample.py) and linear probes
(probes.py)."""
