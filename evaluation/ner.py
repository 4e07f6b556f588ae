"""NER metrics.

token_level_metrics: the original's micro precision / recall / F1 over token positions, counting
only the entity tags as positives (O, X, [CLS], [SEP] and padding are not), weighted by the mask.

entity_level_metrics: exact span-and-type matching of chunks with conlleval / seqeval semantics:
an I-T after O, or after a chunk of another type, starts a new chunk (so ill-formed sequences
still yield chunks); the tags X, [CLS], [SEP] read as O. Reported overall and per type.
"""

import collections

import numpy as np

from evaluation.scores import f1_of, safe_ratio

NON_ENTITY_TAGS = {"O", "X", "[CLS]", "[SEP]"}


def token_level_metrics(gold_ids, predicted_ids, mask, labels):
    """labels[i - 1] is the name of id i (ids start at 1, 0 is padding)."""
    gold = np.asarray(gold_ids)
    predicted = np.asarray(predicted_ids)
    weight = np.asarray(mask).astype(bool)
    entity_ids = [i for i, name in enumerate(labels, start=1) if name not in NON_ENTITY_TAGS]
    gold_positive = np.isin(gold, entity_ids) & weight
    predicted_positive = np.isin(predicted, entity_ids) & weight
    true_positive = int(np.sum(gold_positive & (predicted == gold)))
    precision = safe_ratio(true_positive, np.sum(predicted_positive))
    recall = safe_ratio(true_positive, np.sum(gold_positive))
    return {"precision": precision, "recall": recall, "f1": f1_of(precision, recall)}


def _split_tag(tag):
    if tag in NON_ENTITY_TAGS or "-" not in tag:
        return "O", ""
    prefix, entity_type = tag.split("-", 1)
    return prefix, entity_type


def _chunk_ends(prev_prefix, prefix, prev_type, entity_type):
    if prev_prefix in ("E", "S"):
        return True
    if prev_prefix in ("B", "I") and prefix in ("B", "O", "S"):
        return True
    return prev_prefix != "O" and prev_type != entity_type


def _chunk_starts(prev_prefix, prefix, prev_type, entity_type):
    if prefix in ("B", "S"):
        return True
    if prev_prefix in ("E", "S", "O") and prefix in ("E", "I"):
        return True
    return prefix != "O" and prev_type != entity_type


def extract_chunks(tags):
    """Set of (type, first index, last index) chunks in one sentence's tag sequence."""
    chunks = set()
    prev_prefix, prev_type, begin = "O", "", None
    for index, tag in enumerate(list(tags) + ["O"]):
        prefix, entity_type = _split_tag(tag)
        if begin is not None and _chunk_ends(prev_prefix, prefix, prev_type, entity_type):
            chunks.add((prev_type, begin, index - 1))
            begin = None
        if _chunk_starts(prev_prefix, prefix, prev_type, entity_type):
            begin = index
        prev_prefix, prev_type = prefix, entity_type
    return chunks


def _prf(true_positive, num_predicted, num_gold):
    precision = safe_ratio(true_positive, num_predicted)
    recall = safe_ratio(true_positive, num_gold)
    return {"precision": precision, "recall": recall, "f1": f1_of(precision, recall),
            "num_gold": num_gold, "num_predicted": num_predicted}


def entity_level_metrics(gold_sentences, predicted_sentences):
    """gold_sentences / predicted_sentences: lists (one per sentence) of tag sequences."""
    if len(gold_sentences) != len(predicted_sentences):
        raise ValueError(f"{len(gold_sentences)} gold sentences but {len(predicted_sentences)} predicted")
    counts = collections.defaultdict(lambda: [0, 0, 0])  # type -> [tp, predicted, gold]
    for gold_tags, predicted_tags in zip(gold_sentences, predicted_sentences):
        if len(gold_tags) != len(predicted_tags):
            raise ValueError("a predicted sentence differs in length from its gold sentence")
        gold, predicted = extract_chunks(gold_tags), extract_chunks(predicted_tags)
        for chunk_type, _, _ in gold:
            counts[chunk_type][2] += 1
        for chunk_type, _, _ in predicted:
            counts[chunk_type][1] += 1
        for chunk_type, _, _ in gold & predicted:
            counts[chunk_type][0] += 1
    total = [sum(c[i] for c in counts.values()) for i in range(3)]
    result = _prf(*total)
    result["per_type"] = {t: _prf(*counts[t]) for t in sorted(counts)}
    return result
