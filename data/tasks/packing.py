"""The one BERT input layout every task uses: [CLS] a [SEP] (b [SEP]), segment 0 for [CLS] a [SEP]
and 1 for b [SEP]; ids, mask and segment ids zero-padded to max_seq_length."""


def pack_pair(tokens_a, tokens_b=None):
    """(tokens, segment_ids) of [CLS] a [SEP] (b [SEP]); b's tokens start at len(tokens_a) + 2.
    Without b (None) there is one [SEP]; an empty b still gets its [SEP]."""
    tokens = ["[CLS]"] + list(tokens_a) + ["[SEP]"]
    segment_ids = [0] * len(tokens)
    if tokens_b is not None:
        tokens += list(tokens_b) + ["[SEP]"]
        segment_ids += [1] * (len(tokens_b) + 1)
    return tokens, segment_ids


def padded_inputs(input_ids, segment_ids, max_seq_length):
    """(input_ids, input_mask, segment_ids), each zero-padded to max_seq_length."""
    padding = max_seq_length - len(input_ids)
    return (list(input_ids) + [0] * padding, [1] * len(input_ids) + [0] * padding,
            list(segment_ids) + [0] * padding)


def pack_tokens(tokens_a, tokens_b, tokenizer, max_seq_length):
    """[CLS] a [SEP] (b [SEP]) -> ids, mask and segment ids zero-padded to max_seq_length."""
    tokens, segment_ids = pack_pair(tokens_a, tokens_b or None)  # the original: an empty b is no b
    return padded_inputs(tokenizer.convert_tokens_to_ids(tokens), segment_ids, max_seq_length)
