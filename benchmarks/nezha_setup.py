"""The NEZHA models, synthetic batches and the built Trainer that the model cases share (no flags here)."""
NEZHA_BASE = {"vocab_size": 21128, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
              "intermediate_size": 3072, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
              "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 512, "type_vocab_size": 2,
              "initializer_range": 0.02, "use_relative_position": True}
# For smoke tests of the suite's format only (its numbers mean nothing).
TINY_NEZHA = dict(NEZHA_BASE, vocab_size=200, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                  intermediate_size=64)
MODELS = {"nezha-base": NEZHA_BASE, "tiny": TINY_NEZHA}
PREDICTIONS = 20


def synthetic_batch(seq, batch, vocab, predictions=PREDICTIONS):
    """One fixed batch of random ids, every token real (padding would cost the same compute)."""
    import numpy as np
    import tensorflow as tf
    rng = np.random.RandomState(0)
    positions = np.stack([np.sort(rng.choice(np.arange(1, seq), predictions, replace=False)) for _ in range(batch)])
    return {"input_ids": tf.constant(rng.randint(0, vocab, (batch, seq)), tf.int32),
            "input_mask": tf.ones([batch, seq], tf.int32),
            "segment_ids": tf.constant((np.arange(seq)[None] >= seq // 2).repeat(batch, 0), tf.int32),
            "masked_lm_positions": tf.constant(positions, tf.int32),
            "masked_lm_ids": tf.constant(rng.randint(0, vocab, (batch, predictions)), tf.int32),
            "masked_lm_weights": tf.ones([batch, predictions], tf.float32),
            "next_sentence_labels": tf.constant(rng.randint(0, 2, (batch, 1)), tf.int32)}


def make_trainer(config_dict, features, xla, output_dir, relative_attention, distributed=None,
                 recompute_layers=False, precision="float32"):
    """A built Trainer (LAMB, the pretraining loss) over a repeated one-batch dataset, ready for run_update.
    `precision`: the Keras policy name, set (with fp16's loss scale) as run_pretraining.py sets it."""
    import tensorflow as tf
    from modeling import NezhaConfig, NezhaForPretraining
    from optimization import create_optimizer, name_lookup
    from training.loop import LoopSettings, Trainer
    from training.precision import Precision
    from training.pretraining import pretraining_loss

    mixed = Precision.create(use_fp16=precision == "mixed_float16", use_bf16=precision == "mixed_bfloat16")
    mixed.apply_policy()
    model = NezhaForPretraining(NezhaConfig.from_dict(config_dict), relative_attention=relative_attention,
                                recompute_layers=recompute_layers)
    model.ensure_built()
    optimizer = create_optimizer("lamb", 1e-4, 10000, 100, name_of=name_lookup(model.tf1_variables()))
    settings = LoopSettings(output_dir=output_dir, num_train_steps=10 ** 6, jit_compile=xla)
    trainer = Trainer(model, pretraining_loss, optimizer, settings, precision=mixed, distributed=distributed)
    trainer.prepare(tf.data.Dataset.from_tensors(features).repeat())
    return trainer


def make_forward(config_dict, features, xla, relative_attention, precision="float32", output="pretraining"):
    """A no-argument callable: one inference call of the pretraining model (training=False) in a tf.function
    of fixed signature, waiting for its result. output "pretraining": the masked-LM and next-sentence
    log-probs; "pooled": the encoder's pooled output only (what the original's forward benchmark computes)."""
    import tensorflow as tf
    from compat.keras import keras
    from modeling import NezhaConfig, NezhaForPretraining

    keras.mixed_precision.set_global_policy(precision)
    model = NezhaForPretraining(NezhaConfig.from_dict(config_dict), relative_attention=relative_attention)
    model.ensure_built()
    if output == "pooled":
        features = {name: features[name] for name in ("input_ids", "input_mask", "segment_ids")}
    signature = {name: tf.TensorSpec(t.shape, t.dtype) for name, t in features.items()}

    @tf.function(input_signature=[signature], jit_compile=xla)
    def forward(batch):
        if output == "pooled":
            return (model.encoder(batch, training=False)["pooled_output"],)
        outputs = model(batch, training=False)
        return outputs["mlm_log_probs"], outputs["nsp_log_probs"]

    return lambda: [t.numpy() for t in forward(features)]
