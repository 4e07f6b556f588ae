"""data.generation.text_corpus and scripts/build_zh_corpus.py: text from JSON and TSV into the pretraining layout."""
import json
import subprocess
import sys

import pytest

from data.generation.text_corpus import corpus_documents, split_sentences, squad_documents, tsv_documents, write_documents


def test_sentences_end_after_end_punctuation_with_their_closing_quotes():
    text = "今天天气很好。我们去公园吧！他说：“真的吗？”然后走了\n第二行没有句号"
    assert split_sentences(text) == ["今天天气很好。", "我们去公园吧！", "他说：“真的吗？”", "然后走了", "第二行没有句号"]


def test_runs_of_end_punctuation_stay_with_their_sentence():
    assert split_sentences("太差了！！！再也不来了。。。") == ["太差了！！！", "再也不来了。。。"]
    assert split_sentences("   \n\n") == []


def test_squad_contexts_become_documents_and_questions_are_not_copied(tmp_path):
    path = tmp_path / "squad.json"
    path.write_text(json.dumps({"data": [{"paragraphs": [
        {"context": "第一段。第二句。", "qas": [{"question": "问题一？", "answers": []}]},
        {"context": "另一段", "qas": []}]}]}, ensure_ascii=False), encoding="utf-8")
    assert list(squad_documents(str(path))) == [["第一段。", "第二句。"], ["另一段"]]


def test_squad_errors_name_the_file(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"data": [', encoding="utf-8")
    with pytest.raises(ValueError, match="bad.json: not valid JSON"):
        list(squad_documents(str(path)))
    path.write_text('{"version": 1}', encoding="utf-8")
    with pytest.raises(ValueError, match="bad.json: not SQuAD format"):
        list(squad_documents(str(path)))


def test_tsv_text_column_without_labels_or_header(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_text("label\ttext_a\n1\t好评。很满意\n\n0\t差评\n", encoding="utf-8")
    assert list(tsv_documents(str(path), 1, skip_header=True)) == [["好评。", "很满意"], ["差评"]]


def test_tsv_missing_column_names_file_and_line(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_text("label\ttext_a\n1\t好\n0\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"train.tsv:3: 1 field\(s\), no column 1"):
        list(tsv_documents(str(path), 1, skip_header=True))


def test_written_corpus_reads_back_document_by_document(tmp_path):
    documents = [["一。", "二。"], ["三"], ["四！", "五"]]
    path = tmp_path / "corpus.txt"
    counts = write_documents(iter(documents), str(path))
    assert counts == {"documents": 3, "sentences": 5, "characters": 8}
    assert path.read_text(encoding="utf-8") == "一。\n二。\n\n三\n\n四！\n五\n"
    assert list(corpus_documents(str(path))) == documents
    assert [p.name for p in tmp_path.iterdir()] == ["corpus.txt"], "no temporary file left behind"


def test_script_gathers_all_sources_into_one_corpus(tmp_path, repo_dir):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("甲。\n乙。\n\n丙。\n", encoding="utf-8")
    tsv = tmp_path / "train.tsv"
    tsv.write_text("label\ttext_a\n1\t丁。戊\n", encoding="utf-8")
    squad = tmp_path / "squad.json"
    squad.write_text(json.dumps({"data": [{"paragraphs": [{"context": "己。", "qas": []}]}]}), encoding="utf-8")
    output = tmp_path / "out.txt"
    result = subprocess.run([sys.executable, str(repo_dir / "scripts" / "build_zh_corpus.py"),
                             f"--corpus_files={corpus}", f"--squad_files={squad}", f"--tsv_files={tsv}",
                             f"--output_file={output}"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "4 documents, 6 sentences" in result.stdout
    assert output.read_text(encoding="utf-8") == "甲。\n乙。\n\n丙。\n\n己。\n\n丁。\n戊\n"


def test_script_refuses_a_missing_source(tmp_path, repo_dir):
    result = subprocess.run([sys.executable, str(repo_dir / "scripts" / "build_zh_corpus.py"),
                             f"--tsv_files={tmp_path / 'absent.tsv'}", f"--output_file={tmp_path / 'out.txt'}"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "no such file" in result.stderr and "absent.tsv" in result.stderr
    assert not (tmp_path / "out.txt").exists()
