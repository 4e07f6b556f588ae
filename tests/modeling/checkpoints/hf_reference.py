"""Runs a saved directory through Hugging Face transformers (in an interpreter that has torch and
transformers<=4.40.2, not the project's): `python hf_reference.py MODEL_DIR INPUTS.npz OUTPUTS.npz`.

Used by test_hf_transformers.py to check that transformers loads what save_hf_checkpoint writes and
computes our numbers. Loads with the class named in config.json, fails on any missing or unexpected
weight, and saves every output in eval mode.
"""
import sys

import numpy as np
import torch
import transformers


def main(model_dir, inputs_path, outputs_path):
    config = transformers.NezhaConfig.from_pretrained(model_dir)
    model_class = getattr(transformers, config.architectures[0])
    model, info = model_class.from_pretrained(model_dir, output_loading_info=True)
    problems = {key: value for key, value in info.items() if value}
    if problems:
        raise SystemExit(f"transformers loaded {model_dir} with problems: {problems}")
    model.eval()
    inputs = np.load(inputs_path)
    with torch.no_grad():
        output = model(input_ids=torch.tensor(inputs["input_ids"], dtype=torch.long),
                       attention_mask=torch.tensor(inputs["input_mask"], dtype=torch.long),
                       token_type_ids=torch.tensor(inputs["segment_ids"], dtype=torch.long),
                       output_hidden_states=True)
    results = {"hidden_states_%d" % index: state.numpy() for index, state in enumerate(output.hidden_states)}
    for key in ("prediction_logits", "seq_relationship_logits", "logits", "start_logits", "end_logits",
                "pooler_output"):
        value = getattr(output, key, None)
        if value is not None:
            results[key] = value.numpy()
    np.savez(outputs_path, architecture=np.array(config.architectures[0]), **results)


if __name__ == "__main__":
    main(*sys.argv[1:])
