"""A toy model and data for exercising the loop without the NEZHA network."""
import numpy as np
import tensorflow as tf

from compat.keras import keras


class ToyModel(keras.Model):
    """Embedding (sparse gradients) -> dense -> LayerNorm -> scalar, with TF1-style names."""

    def __init__(self, vocab=11, hidden=8, **kwargs):
        super().__init__(**kwargs)
        self.vocab, self.hidden = vocab, hidden
        self.embedding = keras.layers.Embedding(vocab, hidden, name="emb")
        self.dense = keras.layers.Dense(hidden, activation="tanh", name="dense")
        self.norm = keras.layers.LayerNormalization(epsilon=1e-12, name="LayerNorm")
        self.out = keras.layers.Dense(1, name="out")

    def call(self, features, training=False):
        x = self.embedding(features["x"])
        x = tf.reduce_mean(x, axis=1)
        x = self.norm(self.dense(x))
        return tf.squeeze(self.out(x), -1)

    def tf1_variables(self):
        return {"toy/word_embeddings": self.embedding.embeddings,
                "toy/dense/kernel": self.dense.kernel, "toy/dense/bias": self.dense.bias,
                "toy/LayerNorm/gamma": self.norm.gamma, "toy/LayerNorm/beta": self.norm.beta,
                "toy/out/kernel": self.out.kernel, "toy/out/bias": self.out.bias}

    def get_config(self):
        return {"vocab": self.vocab, "hidden": self.hidden}


def toy_loss(model, features, training):
    prediction = tf.cast(model(features, training=training), tf.float32)
    loss = tf.reduce_mean(tf.square(prediction - features["y"]))
    return loss, {"mse": loss}


def toy_examples(n, seed=0, vocab=11):
    rng = np.random.RandomState(seed)
    x = rng.randint(0, vocab, size=(n, 4)).astype(np.int32)
    y = (x.sum(axis=1) / (2.0 * vocab) - 1.0).astype(np.float32)
    return {"x": x, "y": y}


def toy_dataset(n, batch, seed=0, repeat=True):
    ds = tf.data.Dataset.from_tensor_slices(toy_examples(n, seed))
    if repeat:
        ds = ds.repeat()
    return ds.batch(batch, drop_remainder=True)


def make_toy_model(seed=1):
    keras.utils.set_random_seed(seed)
    model = ToyModel()
    model({"x": tf.zeros([1, 4], tf.int32)})
    return model
