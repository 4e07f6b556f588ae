"""Fine-tuning on the shared loop, one room per job:

- options.py   FineTuneOptions, the typed settings a fine-tuning script builds from its flags
- task.py      the FineTuneTask interface a task implements, inference over arrays, results layout
- callbacks.py keep the best checkpoint by the dev metric; the loss history
- export.py    the SavedModel with a serving signature
- run.py       steps from epochs and the whole run for the modes asked for

The tasks themselves live in training/tasks/; which weights a run uses, in training/checkpointing.py.
"""
