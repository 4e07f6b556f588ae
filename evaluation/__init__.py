"""Task metrics: classification, NER (token- and entity-level) and the official CMRC2018 metric."""
