"""The command line of the official CMRC2018 metric, under the original's name:
python -m evaluation.cmrc2018 dataset.json predictions.json (the metric is evaluation/reading.py)."""
import sys

from evaluation.reading import main

if __name__ == "__main__":
    sys.exit(main(sys.argv))
