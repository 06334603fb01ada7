"""Statistics shared by models and claims (engine/analysis/two_sample.py: two-sample tests)."""
