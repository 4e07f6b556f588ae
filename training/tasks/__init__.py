"""The fine-tuning tasks run by run_clf.py, run_seq_labelling.py and run_reading.py."""
