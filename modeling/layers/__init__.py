"""The Keras layers the NEZHA models are made of."""
from modeling.layers.attention import RelativeSelfAttention, attention_mask_adder
from modeling.layers.embeddings import NezhaEmbeddings
from modeling.layers.layer_norm import LayerNorm
from modeling.layers.relative_position import RelativePositions, relative_position_table
from modeling.layers.transformer import TransformerBlock

__all__ = [
    "LayerNorm",
    "NezhaEmbeddings",
    "RelativePositions",
    "RelativeSelfAttention",
    "TransformerBlock",
    "attention_mask_adder",
    "relative_position_table",
]
