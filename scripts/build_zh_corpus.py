"""Gathers Chinese text into one pretraining corpus (one sentence per line, a blank line between
documents), for create_pretraining_data.py.

Sources: corpora already in that layout (--corpus_files), the paragraph contexts of SQuAD-style
JSON (--squad_files, e.g. CMRC2018) and one text column of TSV files (--tsv_files, e.g. the
reviews of ChnSentiCorp's training split, without their labels). Only text is copied.
"""
import os
import sys

from absl import app, flags, logging

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

FLAGS = flags.FLAGS
flags.DEFINE_list("corpus_files", [], "Files already in the pretraining layout, copied document by document.")
flags.DEFINE_list("squad_files", [], "SQuAD-format JSON files: every paragraph context becomes a document.")
flags.DEFINE_list("tsv_files", [], "Tab-separated files: the text of --tsv_text_column of every row becomes a "
                                   "document. Never give a split you will evaluate on.")
flags.DEFINE_integer("tsv_text_column", 1, "0-based column of --tsv_files holding the text.")
flags.DEFINE_bool("tsv_skip_header", True, "The first line of each --tsv_files file is a header.")
flags.DEFINE_string("output_file", None, "Where to write the corpus.")
flags.mark_flag_as_required("output_file")


def main(argv):
    del argv
    from data.generation.text_corpus import corpus_documents, squad_documents, tsv_documents, write_documents

    def documents():
        for path in FLAGS.corpus_files:
            yield from corpus_documents(path)
        for path in FLAGS.squad_files:
            yield from squad_documents(path)
        for path in FLAGS.tsv_files:
            yield from tsv_documents(path, FLAGS.tsv_text_column, FLAGS.tsv_skip_header)

    sources = FLAGS.corpus_files + FLAGS.squad_files + FLAGS.tsv_files
    if not sources:
        raise app.UsageError("give at least one of --corpus_files, --squad_files, --tsv_files")
    for path in sources:
        if not os.path.isfile(path):
            raise app.UsageError(f"no such file: {path}")
    try:
        counts = write_documents(documents(), FLAGS.output_file)
    except (ValueError, UnicodeDecodeError) as error:
        logging.error("%s", error)
        sys.exit(1)
    print(f"{FLAGS.output_file}: {counts['documents']} documents, {counts['sentences']} sentences, "
          f"{counts['characters']} characters")


if __name__ == "__main__":
    app.run(main)
