"""`python -m modeling.convert`: an alias of convert_checkpoint.py (same flags, same main), kept for
the commands written before the converter moved beside the other entry scripts."""
import os
import runpy

if __name__ == "__main__":
    runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "convert_checkpoint.py"),
                   run_name="__main__")
