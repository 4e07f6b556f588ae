"""Text to model inputs: tokenization and the record schema (shared), the pretraining-data generator
(generation/), the pretraining input pipelines (input/) and the task readers (tasks/)."""
