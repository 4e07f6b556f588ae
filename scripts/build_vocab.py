"""Builds a WordPiece vocabulary from a corpus, for the demo and for small experiments.

The vocabulary: [PAD] [UNK] [CLS] [SEP] [MASK]; every character seen (and, outside CJK, its
'##' continuation form, so that every word can be split into pieces); every word seen at least
--min_word_count times; '##' suffixes of 2 to 4 characters seen at least --min_piece_count times.
Words are cut the way the project's BasicTokenizer cuts them (CJK characters and punctuation apart).
"""
import collections
import os
import sys

from absl import app, flags

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

FLAGS = flags.FLAGS
flags.DEFINE_string("input_file", None, "Corpus file(s), comma-separated: one sentence per line.")
flags.DEFINE_string("vocab_file", None, "Where to write the vocabulary (one token per line).")
flags.DEFINE_bool("do_lower_case", True, "Lower-case the text first (an uncased vocabulary).")
flags.DEFINE_integer("min_word_count", 2, "Keep whole words seen at least this often.")
flags.DEFINE_integer("min_piece_count", 3, "Keep '##' suffix pieces seen at least this often.")

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def build_vocabulary(lines, do_lower_case=True, min_word_count=2, min_piece_count=3):
    from data.tokenization import BasicTokenizer, is_cjk_char
    tokenizer = BasicTokenizer(do_lower_case=do_lower_case)
    words = collections.Counter()
    for line in lines:
        words.update(tokenizer.tokenize(line))
    characters = sorted({char for word in words for char in word})
    tokens = list(SPECIAL_TOKENS)
    tokens += characters
    tokens += ["##" + char for char in characters if not is_cjk_char(char)]
    pieces = collections.Counter()
    for word, count in words.items():
        if len(word) > 1:
            for start in range(max(1, len(word) - 4), len(word) - 1):  # suffixes of 2 to 4 characters
                pieces["##" + word[start:]] += count
    tokens += sorted(word for word, count in words.items() if count >= min_word_count and len(word) > 1)
    tokens += sorted(piece for piece, count in pieces.items() if count >= min_piece_count)
    seen, vocabulary = set(), []
    for token in tokens:
        if token not in seen:
            seen.add(token)
            vocabulary.append(token)
    return vocabulary


def main(argv):
    del argv
    from fileio.atomic import atomic_output
    lines = []
    for path in FLAGS.input_file.split(","):
        with open(path, encoding="utf-8") as f:
            lines.extend(line.strip() for line in f if line.strip())
    vocabulary = build_vocabulary(lines, FLAGS.do_lower_case, FLAGS.min_word_count, FLAGS.min_piece_count)
    with atomic_output(FLAGS.vocab_file) as temporary, open(temporary, "w", encoding="utf-8") as f:
        f.write("\n".join(vocabulary) + "\n")
    print(f"wrote {len(vocabulary)} tokens to {FLAGS.vocab_file}")


if __name__ == "__main__":
    flags.mark_flags_as_required(["input_file", "vocab_file"])
    app.run(main)
