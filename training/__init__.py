"""The one training loop shared by pretraining and every fine-tuning script."""
