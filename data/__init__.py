"""Tokenization, pretraining-data generation, task readers and input pipelines."""
