"""FullTokenizer against the original's rules; SentencePieceTokenizer on a model trained here."""

import unicodedata

import pytest

from data import tokenization
from data.tokenization import FullTokenizer, SentencePieceTokenizer, VocabularyError, make_tokenizer

SMALL_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "want", "##want", "##ed", "wa", "un",
               "runn", "##ing", ",", "low", "lowest", "中", "国", "hello", "!", "="]


@pytest.fixture
def small_vocab_file(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("".join(t + "\n" for t in SMALL_VOCAB), encoding="utf-8")
    return path


def test_wordpiece_and_basic_rules(small_vocab_file):
    tok = FullTokenizer(str(small_vocab_file), do_lower_case=True)
    assert tok.tokenize("UNwant\u00E9d,running") == ["un", "##want", "##ed", ",", "runn", "##ing"]
    assert tok.tokenize(" \tHeLLo!how  \n Are yoU?  ") == ["hello", "!", "[UNK]", "[UNK]", "[UNK]", "[UNK]"]
    # CJK ideographs become their own tokens; NUL, U+FFFD and control characters vanish.
    assert tok.tokenize("中国\x00\ufffd\x07hello") == ["中", "国", "hello"]
    # "≠" is not punctuation, but NFD turns it into "=" plus a dropped combining mark.
    assert tok.tokenize("\u2260") == ["="]
    # Longer than 200 characters: one [UNK].
    assert tok.tokenize("a" * 201) == ["[UNK]"]


def test_no_lower_case_keeps_case_and_accents(small_vocab_file):
    tok = FullTokenizer(str(small_vocab_file), do_lower_case=False)
    assert tok.tokenize("HeLLo hello") == ["[UNK]", "hello"]
    assert tok.basic_tokenizer.tokenize("H\u00E9llo") == ["H\u00E9llo"]


def test_ids_round_trip_in_file_order(small_vocab_file):
    tok = FullTokenizer(str(small_vocab_file))
    assert list(tok.vocab) == SMALL_VOCAB
    ids = tok.convert_tokens_to_ids(["un", "##want", "[SEP]"])
    assert ids == [9, 6, 3]
    assert tok.convert_ids_to_tokens(ids) == ["un", "##want", "[SEP]"]
    with pytest.raises(VocabularyError, match="not in the vocabulary"):
        tok.convert_tokens_to_ids(["nope"])


def test_missing_vocab_file_is_a_clear_error(tmp_path):
    with pytest.raises(VocabularyError, match="vocabulary file not found"):
        FullTokenizer(str(tmp_path / "absent.txt"))
    with pytest.raises(VocabularyError, match="SentencePiece model file not found"):
        SentencePieceTokenizer(str(tmp_path / "absent.model"))
    with pytest.raises(VocabularyError):
        make_tokenizer()


# A plain transcription of the original's algorithm, character by character, used as the oracle
# for the cached fast path.
def _oracle_basic(text, lower):
    out = []
    for c in text:
        if ord(c) == 0 or ord(c) == 0xFFFD or tokenization.is_control(c):
            continue
        out.append(" " if tokenization.is_whitespace(c) else c)
    text = "".join(" " + c + " " if tokenization.is_cjk_char(c) else c for c in out)
    split = []
    for token in text.strip().split():
        if lower:
            token = "".join(c for c in unicodedata.normalize("NFD", token.lower()) if unicodedata.category(c) != "Mn")
        word = []
        for c in token:
            if tokenization.is_punctuation(c):
                split.extend(["".join(word), c])
                word = []
            else:
                word.append(c)
        split.append("".join(word))
    return " ".join(split).strip().split()


def test_fast_path_matches_oracle_on_real_text(vocab_file, fixtures_dir):
    tok = FullTokenizer(str(vocab_file), do_lower_case=True)
    text = (fixtures_dir / "cpd_public" / "corpus.txt").read_text(encoding="utf-8")
    lines = text.splitlines() + ["Ünïcödé ΣΑΣ 力加勝北区ᴵᴺᵀᵃছজটডণত \u3000全角，标点！\u2028x\u00a0y"]
    for line in lines:
        expected = [p for t in _oracle_basic(line, True) for p in tok.wordpiece_tokenizer.tokenize_word(t)]
        assert tok.tokenize(line) == expected, line


def test_nezha_vocab_chinese(vocab_file):
    tok = FullTokenizer(str(vocab_file))
    assert len(tok.vocab) == 21128
    tokens = tok.tokenize("华为NEZHA模型，2019年！")
    assert tokens[:2] == ["华", "为"] and "，" in tokens and tokens[-1] == "！"
    assert tok.convert_ids_to_tokens(tok.convert_tokens_to_ids(tokens)) == tokens


def _train_spm(tmp_path):
    import sentencepiece

    corpus = tmp_path / "spm_corpus.txt"
    corpus.write_text("\n".join(["the quick brown fox jumps over the lazy dog",
                                 "a lazy dog sleeps in the sun", "quick thinking wins the day",
                                 "the fox and the dog are friends", "brown bread and sunny days"] * 4),
                      encoding="utf-8")
    prefix = tmp_path / "tiny"
    sentencepiece.SentencePieceTrainer.Train(
        input=str(corpus), model_prefix=str(prefix), vocab_size=40, model_type="unigram",
        user_defined_symbols=["[CLS]", "[SEP]", "[MASK]"], minloglevel=2)
    return str(prefix) + ".model"


def test_sentencepiece_tokenizer_interface(tmp_path):
    model = _train_spm(tmp_path)
    tok = make_tokenizer(spm_model_file=model, do_lower_case=True)
    assert isinstance(tok, SentencePieceTokenizer)
    assert len(tok.vocab) == 40
    assert list(tok.vocab.values()) == list(range(40))
    pieces = tok.tokenize("The Lazy Fox")
    assert "".join(pieces).replace("\u2581", " ").strip() == "the lazy fox"
    ids = tok.convert_tokens_to_ids(pieces)
    assert tok.convert_ids_to_tokens(ids) == pieces
    assert tok.sp_model.DecodeIds(ids) == "the lazy fox"
    assert {"[CLS]", "[SEP]", "[MASK]"} <= set(tok.vocab)
    # Unseen characters become the model's unknown piece, so every token has an id.
    unseen = tok.tokenize("the 日")
    assert tok.unk_token in unseen and all(p in tok.vocab for p in unseen)
    with pytest.raises(VocabularyError, match="not a SentencePiece model"):
        SentencePieceTokenizer(str(tmp_path / "spm_corpus.txt"))


def test_split_on_punctuation_keeps_each_mark_alone_and_the_runs_between_whole():
    split = tokenization.split_on_punctuation
    assert split("") == []
    assert split(",") == [","]
    assert split(",ab..c!") == [",", "ab", ".", ".", "c", "!"]
    assert split("x" * 100_000) == ["x" * 100_000]
