"""The SavedModel a fine-tuned model is served from."""
import tensorflow as tf
from absl import logging

from fileio.atomic import atomic_directory

SERVING_INPUTS = ("input_ids", "input_mask", "segment_ids")


def export_saved_model(model, export_dir: str, output_keys) -> None:
    """A SavedModel whose serving signature takes input_ids, input_mask, segment_ids (int32
    [batch, seq]) and returns the named outputs."""
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
