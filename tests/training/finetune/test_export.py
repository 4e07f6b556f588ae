"""training/finetune/export.py: the SavedModel serves what the model computes in process."""
import numpy as np
import tensorflow as tf

from modeling.task_models import NezhaForClassification
from training.finetune.export import export_saved_model
from training.finetune.task import run_model


def test_saved_model_serving_equals_in_process(tiny, tmp_path):
    config, _ = tiny
    model = NezhaForClassification(config, num_labels=3)
    model.ensure_built()
    features = {"input_ids": np.array([[101, 2769, 102, 0], [101, 872, 1962, 102]], np.int32),
                "input_mask": np.array([[1, 1, 1, 0], [1, 1, 1, 1]], np.int32),
                "segment_ids": np.zeros([2, 4], np.int32)}
    expected = run_model(model, features, 2, ["probabilities"])["probabilities"]
    export_saved_model(model, str(tmp_path / "export"), ["probabilities"])
    serve = tf.saved_model.load(str(tmp_path / "export")).signatures["serving_default"]
    served = serve(**{k: tf.constant(v) for k, v in features.items()})["probabilities"].numpy()
    np.testing.assert_allclose(served, expected, atol=1e-6)
