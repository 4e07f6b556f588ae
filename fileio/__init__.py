"""The bottom floor: file helpers that modeling/, data/ and training/ may all import (and that import
nothing of ours)."""
