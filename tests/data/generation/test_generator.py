"""data/generation/generator.py: a whole run is deterministic for its seed (the byte-exact runs are in
tests/test_create_pretraining_data.py, through the script)."""

from data.generation.config import GeneratorConfig
from data.generation.generator import generate


def test_unmasked_output_is_deterministic(tmp_path, vocab_file, shared_dir):
    corpus = tmp_path / "zh.txt"
    with open(shared_dir / "data" / "zh_corpus" / "clue_small.txt", encoding="utf-8") as source:
        corpus.write_text("".join(line for _, line in zip(range(400), source)), encoding="utf-8")
    outputs = {}
    for name, seed in (("a", 9), ("b", 9), ("c", 10)):
        outputs[name] = tmp_path / f"{name}.tfrecord"
        config = GeneratorConfig(max_seq_length=64, dupe_factor=2, do_whole_word_mask=True, dynamic_masking=True)
        generate(str(corpus), [str(outputs[name])], str(vocab_file), None, True, config, seed, show_progress=False)
    assert outputs["a"].read_bytes() == outputs["b"].read_bytes()
    assert outputs["a"].read_bytes() != outputs["c"].read_bytes()
