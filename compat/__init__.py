"""The bottom floor beside fileio/: what differs between the supported TensorFlow releases, answered once
(it imports nothing of ours)."""
