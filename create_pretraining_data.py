"""Turns text (one sentence per line, blank line between documents) into pretraining TFRecords.

With --num_workers=1 (the default) the output is byte for byte the original's for the same
flags. The README's "Pretraining data" section says what more workers, --group_size_mb and many
tasks (horovodrun, mpirun, --task_index) do; the code is data/generation/.
"""

import time

from absl import app, flags

from data.generation.config import MIN_MAX_SEQ_LENGTH, GeneratorConfig, PretrainingDataError
from data.generation.generator import generate
from data.generation.launcher import resolve_task
from data.generation.progress import print_summary
from data.generation.workers import exit_on_sigterm
from fileio.atomic import WriteError
from training.flags import define_tokenizer_flags, run_main

FLAGS = flags.FLAGS
define_tokenizer_flags()

flags.DEFINE_string("input_file", None, "Input text file(s): comma-separated paths or globs (each glob's matches "
                    "sorted). One sentence per line, a blank line between documents.")
flags.DEFINE_string("output_file", None, "Output TFRecord file(s), comma-separated; instances are written to them "
                    "round-robin. With --num_workers=N > 1: if at least N files are named, worker w writes files "
                    "w, w+N, ...; otherwise each NAME becomes N shards NAME-00000-of-0000N ... NAME-0000(N-1)-of-0000N.")
flags.DEFINE_bool("do_whole_word_mask", False, "Mask whole words: '##' pieces are masked with the piece before them "
                  "(Google BERT's rule, reproduced exactly).")
flags.DEFINE_bool("chinese_wwm", False, "Chinese whole-word masking: segment each line with jieba and mask the "
                  "characters of a word together; the ids written stay those of the characters.")
flags.DEFINE_bool("dynamic_masking", False, "Write the sequence pairs without masks, with each position's whole-word "
                  "number instead, for run_pretraining.py --dynamic_masking (new masks every time a record is "
                  "read; typically with --dupe_factor=1). --do_whole_word_mask and --chinese_wwm still choose "
                  "the words; --max_predictions_per_seq and --masked_lm_prob are then run_pretraining.py's.")
flags.DEFINE_integer("max_seq_length", 128, f"Maximum sequence length, [CLS] and [SEP]s included (>= "
                     f"{MIN_MAX_SEQ_LENGTH}: [CLS] A [SEP] B [SEP] with one token in A and in B).")
flags.DEFINE_integer("max_predictions_per_seq", 20, "Maximum number of masked LM predictions per sequence.")
flags.DEFINE_integer("random_seed", 12345, "Random seed for data generation.")
flags.DEFINE_integer("dupe_factor", 10, "Number of times to duplicate the input data (with different masks).")
flags.DEFINE_float("masked_lm_prob", 0.15, "Masked LM probability, in (0, 1].")
flags.DEFINE_float("short_seq_prob", 0.1, "Probability of creating sequences shorter than the maximum length.")
flags.DEFINE_integer("num_workers", 1, "Processes to split the work over, by input file (or by byte ranges cut at "
                     "document boundaries when there are fewer files than workers). Deterministic for a given "
                     "(seed, num_workers); 1 reproduces the original exactly. Random next sentences come from the "
                     "worker's own documents.")
flags.DEFINE_float("group_size_mb", None, "Off by default. When set, every input file is cut into groups of whole "
                   "documents of at most this many MB (10^6 bytes), each generated as the original would generate "
                   "it alone (with a seed from --random_seed and the group's index): memory is bounded by the group "
                   "size, random next sentences and the shuffle stay within a group. Group g of G writes "
                   "NAME-0000g-of-0000G for every --output_file NAME. Deterministic for a given seed and group size, "
                   "whatever the number of workers or tasks.")
flags.DEFINE_integer("task_index", None, "This process's index among --num_tasks processes sharing the work (e.g. a "
                     "SLURM array index), each writing its own shards. Default: the launcher's rank (HOROVOD_RANK "
                     "under horovodrun, OMPI_COMM_WORLD_RANK under Open MPI, PMI_RANK under MPICH), else 0.")
flags.DEFINE_integer("num_tasks", None, "Number of processes sharing the work (see --task_index). Default: the "
                     "launcher's size (HOROVOD_SIZE, OMPI_COMM_WORLD_SIZE, PMI_SIZE), else 1.")
flags.DEFINE_string("spool_dir", None, "Directory for the temporary spool of encoded instances (about the size of the "
                    "output, unnamed, freed when the process ends however it ends). Default: the output's directory.")
flags.DEFINE_bool("progress", True, "Report progress on stderr.")
flags.mark_flags_as_required(["input_file", "output_file"])


def main(argv):
    del argv
    exit_on_sigterm()
    started = time.monotonic()
    config = GeneratorConfig(
        max_seq_length=FLAGS.max_seq_length,
        max_predictions_per_seq=FLAGS.max_predictions_per_seq,
        masked_lm_prob=FLAGS.masked_lm_prob,
        short_seq_prob=FLAGS.short_seq_prob,
        dupe_factor=FLAGS.dupe_factor,
        do_whole_word_mask=FLAGS.do_whole_word_mask,
        chinese_wwm=FLAGS.chinese_wwm,
        dynamic_masking=FLAGS.dynamic_masking,
    )
    if FLAGS.group_size_mb is not None and FLAGS.group_size_mb <= 0:
        raise PretrainingDataError(f"--group_size_mb={FLAGS.group_size_mb} must be positive")
    task_index, num_tasks, task_source = resolve_task(FLAGS.task_index, FLAGS.num_tasks)
    outputs = [p.strip() for p in FLAGS.output_file.split(",") if p.strip()]
    group_bytes = None if FLAGS.group_size_mb is None else max(1, int(FLAGS.group_size_mb * 1e6))
    summary, results = generate(FLAGS.input_file, outputs, FLAGS.vocab_file, FLAGS.spm_model_file,
                                FLAGS.do_lower_case, config, FLAGS.random_seed, FLAGS.num_workers,
                                show_progress=FLAGS.progress, group_bytes=group_bytes, task_index=task_index,
                                num_tasks=num_tasks, spool_dir=FLAGS.spool_dir)
    print_summary(summary, results, time.monotonic() - started, task_index, num_tasks, task_source)


if __name__ == "__main__":
    app.run(lambda argv: run_main("create_pretraining_data", main, argv, errors=(PretrainingDataError, WriteError)))
