"""The SavedModel a fine-tuned model is served from."""
import tensorflow as tf
from absl import logging

from compat.keras import keras
from fileio.atomic import atomic_directory

SERVING_INPUTS = ("input_ids", "input_mask", "segment_ids")


def float32_twin(model):
    """`model` itself when it computes in float32, else the same architecture built under the
    float32 policy holding the same (float32 master) weights.

    A model trained under --use_fp16 or --use_bf16 would bake its casts to float16 or bfloat16 into
    the serving graph; serving in float32 costs nothing in accuracy and runs on any device.
    """
    if model.compute_dtype == "float32":
        return model
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")
    try:
        twin = type(model).from_config(model.get_config())
        twin.ensure_built()
    finally:
        keras.mixed_precision.set_global_policy(previous)
    source, target = model.tf1_variables(), twin.tf1_variables()
    if set(source) != set(target):
        raise ValueError(f"the float32 copy of {type(model).__name__} does not have the model's variables: "
                         f"{sorted(set(source) ^ set(target))}")
    for name, variable in target.items():
        variable.assign(source[name])
    return twin


def export_saved_model(model, export_dir: str, output_keys) -> None:
    """A SavedModel whose serving signature takes input_ids, input_mask, segment_ids (int32
    [batch, seq]) and returns the named outputs, computed in float32 whatever the policy the model
    was trained under (see float32_twin)."""
    model = float32_twin(model)
    signature = [tf.TensorSpec([None, None], tf.int32, name=name) for name in SERVING_INPUTS]

    @tf.function(input_signature=signature)
    def serve(input_ids, input_mask, segment_ids):
        outputs = model({"input_ids": input_ids, "input_mask": input_mask, "segment_ids": segment_ids},
                        training=False)
        return {key: outputs[key] for key in output_keys}

    module = tf.Module()
    module.model = model
    module.serve = serve
    with atomic_directory(export_dir) as temporary:
        tf.saved_model.save(module, temporary, signatures={"serving_default": serve})
    logging.info("SavedModel written to %s (outputs: %s)", export_dir, ", ".join(output_keys))
